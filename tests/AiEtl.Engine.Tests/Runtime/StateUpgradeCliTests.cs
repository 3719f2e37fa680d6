using System.Text;
using System.Text.Json;
using AiEtl.Engine.Tests.Support;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>
/// A checkpoint of run A restored by run B with a changed spec (<c>aietl run</c> as a child process): compatible
/// changes (parallelism, an added output column, a new sink) resume; a changed GROUP BY key, window type or
/// running_count key fails with exit 2 naming the operator, and <c>--fresh</c> starts over.
/// </summary>
public sealed class StateUpgradeCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-upgrade-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string P(string name) => Path.Combine(_dir, name);

    private void AppendOrders(int from, int to, string file = "part-1.jsonl")
    {
        var sb = new StringBuilder();
        for (var i = from; i <= to; i++)
        {
            var status = i % 3 == 0 ? "open" : "paid";
            sb.Append($$"""{"order_id":{{i}},"customer_id":{{i % 7}},"amount":{{i % 50}}.5,"status":"{{status}}","ts":"2026-01-01T00:{{i / 60 % 60:D2}}:{{i % 60:D2}}Z"}""").Append('\n');
        }
        File.AppendAllText(P(file), sb.ToString());
    }

    private string Spec(string name, string transform, string sinks, int parallelism)
    {
        var path = P(name + ".yaml");
        File.WriteAllText(path, $$"""
            name: upgrade
            source:
              file: { path: {{P("part-*.jsonl")}}, format: jsonl, batch_size: 100 }
              schema:
                order_id: { type: int64, required: true }
                customer_id: int64
                amount: float64
                status: string
                ts: { type: timestamp, format: iso }
              event_time: { column: ts, max_out_of_orderness: 5s }
            transform: {{transform}}
            sinks:
            {{sinks}}
            checkpoint: { dir: {{P("state")}} }
            parallelism: {{parallelism}}
            """);
        return path;
    }

    private string FileSink(string name, string file) => $"  {name}:\n    file: {{ path: {P(file)} }}";

    private static async Task<(int Code, string Err)> RunAsync(string dir, params string[] args)
    {
        var (code, _, err) = await Cli.RunAsync(dir, TimeSpan.FromSeconds(120), ["run", .. args, "--no-progress"]);
        return (code, err);
    }

    /// <summary>
    /// Run A reads part-1; run B (a second file has arrived) restores the file position and the keyed counts.
    /// Parallelism stays 1 here: the source's parallelism follows the file count, and sources cannot move their
    /// positions between readers; keyed state moving to another parallelism is covered by StateRescaleTests.
    /// </summary>
    [Fact]
    public async Task An_added_output_column_and_a_new_sink_restore_the_running_counts()
    {
        AppendOrders(1, 700);
        var a = Spec("a", """
            [ { running_count: { key: customer_id, as: n } }, { select: ["order_id", "customer_id", "n"] } ]
            """, FileSink("out", "out.jsonl"), parallelism: 1);
        var (code, err) = await RunAsync(_dir, a);
        Assert.True(code == 0, err);

        AppendOrders(701, 1500, "part-2.jsonl");
        var b = Spec("b", """
            [ { running_count: { key: customer_id, as: n } }, { select: ["order_id", "customer_id", "n", "status"] } ]
            """, FileSink("out", "out.jsonl") + "\n" + FileSink("copy", "copy.jsonl"), parallelism: 1);
        (code, err) = await RunAsync(_dir, b);
        Assert.True(code == 0, err);
        Assert.Contains("resumed from checkpoint", err);

        // Every order once, and its n is its place among its customer's orders over both runs.
        var rows = File.ReadAllLines(P("out.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(1500, rows.Count);
        Assert.Equal(Enumerable.Range(1, 1500), rows.Select(r => r.GetProperty("order_id").GetInt32()).Order());
        foreach (var r in rows)
        {
            var id = r.GetProperty("order_id").GetInt32();
            var expected = Enumerable.Range(1, id).Count(i => i % 7 == id % 7);
            Assert.Equal(expected, r.GetProperty("n").GetInt64());
            Assert.Equal(id > 700, r.TryGetProperty("status", out _));
        }
        // The new sink starts with the rows after the checkpoint.
        Assert.Equal(800, File.ReadAllLines(P("copy.jsonl")).Length);
    }

    private const string ByCustomer = """
        |
          SELECT customer_id, window_start, count(*) AS orders, sum(amount) AS revenue
          FROM source GROUP BY customer_id, TUMBLE(ts, INTERVAL '1' MINUTE)
        """;

    [Fact]
    public async Task An_added_output_column_after_a_window_aggregate_restores()
    {
        AppendOrders(1, 400);
        var (code, err) = await RunAsync(_dir, Spec("a", ByCustomer, FileSink("out", "out.jsonl"), 1));
        Assert.True(code == 0, err);
        AppendOrders(401, 600, "part-2.jsonl");
        (code, err) = await RunAsync(_dir, Spec("b", """
            |
              SELECT customer_id, window_start, window_end, count(*) AS orders, sum(amount) AS revenue
              FROM source GROUP BY customer_id, TUMBLE(ts, INTERVAL '1' MINUTE)
            """, FileSink("out", "out.jsonl"), 1));
        Assert.True(code == 0, err);
        Assert.Contains("resumed from checkpoint", err);
    }

    [Fact]
    public async Task Changed_group_by_keys_or_window_type_fail_naming_the_operator_unless_fresh()
    {
        AppendOrders(1, 400);
        var (code, err) = await RunAsync(_dir, Spec("a", ByCustomer, FileSink("out", "out.jsonl"), 1));
        Assert.True(code == 0, err);

        var keys = Spec("keys", """
            |
              SELECT status, window_start, count(*) AS orders, sum(amount) AS revenue
              FROM source GROUP BY status, TUMBLE(ts, INTERVAL '1' MINUTE)
            """, FileSink("out", "out.jsonl"), 1);
        (code, err) = await RunAsync(_dir, keys);
        Assert.True(code == 2, $"exit {code}: {err}");
        Assert.Contains("window_aggregate#1", err);
        Assert.Contains("keys (customer_id)", err);
        Assert.Contains("keys (status)", err);
        Assert.Contains("--fresh", err);

        var hop = Spec("hop", """
            |
              SELECT customer_id, window_start, count(*) AS orders, sum(amount) AS revenue
              FROM source GROUP BY customer_id, HOP(ts, INTERVAL '30' SECOND, INTERVAL '1' MINUTE)
            """, FileSink("out", "out.jsonl"), 1);
        (code, err) = await RunAsync(_dir, hop);
        Assert.True(code == 2, $"exit {code}: {err}");
        Assert.Contains("window_aggregate#1", err);
        Assert.Contains("Hop", err);

        // The failed attempts changed nothing: the original plan still resumes; a fresh start runs the new one.
        (code, err) = await RunAsync(_dir, hop, "--fresh");
        Assert.True(code == 0, err);
        Assert.DoesNotContain("resumed", err);
    }

    [Fact]
    public async Task A_changed_running_count_key_fails_naming_the_operator()
    {
        AppendOrders(1, 100);
        var (code, err) = await RunAsync(_dir, Spec("a", "[ { running_count: { key: customer_id, as: n } } ]", FileSink("out", "out.jsonl"), 1));
        Assert.True(code == 0, err);
        (code, err) = await RunAsync(_dir, Spec("b", "[ { running_count: { key: status, as: n } } ]", FileSink("out", "out.jsonl"), 1));
        Assert.True(code == 2, $"exit {code}: {err}");
        Assert.Contains("running_count#1", err);
        Assert.Contains("running_count by customer_id", err);
    }
}
