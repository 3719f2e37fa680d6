using System.Diagnostics;
using System.Globalization;
using System.Text;
using AiEtl.Engine.Tests.Support;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>
/// Exactly-once across crashes, as a user would see it: <c>aietl run</c> of a file → keyed stateful
/// operator → file pipeline is killed with SIGKILL at random points and restarted each time; the final
/// output must equal an uninterrupted run's: nothing lost, nothing duplicated.
/// </summary>
public sealed class KillRestartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-kill-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Spec(string name, string outFile, string stateDir) => $$"""
        name: {{name}}
        source:
          file: { path: {{Path.Combine(_dir, "in.jsonl")}}, format: jsonl, batch_size: 2000 }
          schema:
            order_id: { type: int64, required: true }
            customer_id: int64
            amount: float64
            note: string
        transform:
          - filter: "amount >= 0 OR amount IS NULL"
          - select: ["order_id", "customer_id", "amount * 2 AS doubled", "note"]
          - running_count: { key: customer_id, as: seq }
        sink:
          file: { path: {{outFile}} }
        dead_letter: { file: {{Path.Combine(_dir, name + "-dead.jsonl")}} }
        delivery: exactly-once
        checkpoint: { interval: 100ms, dir: {{stateDir}}, keep: 2 }
        parallelism: 2
        """;

    private int WriteInput(int rows, Random rnd)
    {
        var kept = 0;
        using var w = new StreamWriter(Path.Combine(_dir, "in.jsonl"), false, new UTF8Encoding(false), 1 << 20);
        for (var i = 0; i < rows; i++)
        {
            if (i % 50_000 == 7)
            {
                w.Write("{\"order_id\": \"not a number\"}\n"); // a dead letter
                continue;
            }
            var amount = rnd.Next(-50, 1000) / 4.0;
            if (amount >= 0) kept++;
            var note = i % 11 == 0 ? "null" : $"\"n-{i % 97}\"";
            w.Write(string.Create(CultureInfo.InvariantCulture, $"{{\"order_id\":{i},\"customer_id\":{rnd.Next(0, 5000)},\"amount\":{amount},\"note\":{note}}}\n"));
        }
        return kept;
    }

    private static long LatestCheckpoint(string stateDir) =>
        !Directory.Exists(stateDir) ? 0 : Directory.EnumerateFiles(stateDir, "chk-*.ckpt")
            .Select(f => long.Parse(Path.GetFileNameWithoutExtension(f).AsSpan(4), CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();

    [Fact]
    public async Task Killing_and_restarting_ten_times_gives_the_same_output_as_one_uninterrupted_run()
    {
        var ct = TestContext.Current.CancellationToken;
        var seed = Environment.TickCount;
        var rnd = new Random(seed);
        var kept = WriteInput(1_200_000, new Random(1));

        var refSpec = Path.Combine(_dir, "ref.yaml");
        File.WriteAllText(refSpec, Spec("ref", Path.Combine(_dir, "ref-out.jsonl"), Path.Combine(_dir, "ref-state")));
        var reference = await Cli.RunAsync(_dir, TimeSpan.FromMinutes(5), "run", refSpec, "--no-progress");
        Assert.True(reference.ExitCode == 0, reference.Stderr);

        var spec = Path.Combine(_dir, "crash.yaml");
        var state = Path.Combine(_dir, "crash-state");
        var output = Path.Combine(_dir, "crash-out.jsonl");
        File.WriteAllText(spec, Spec("crash", output, state));
        var kills = new List<string>();
        while (kills.Count < 10)
        {
            var before = LatestCheckpoint(state);
            using var p = Cli.Start(_dir, "run", spec, "--no-progress");
            var stderr = p.StandardError.ReadToEndAsync(ct);
            _ = p.StandardOutput.ReadToEndAsync(ct);
            var sw = Stopwatch.StartNew();
            // Half of the kills at a random moment after start (possibly before restore finished), half at a
            // random moment after this run completed a checkpoint of its own (so every such run makes progress).
            var afterCheckpoint = kills.Count % 2 == 1;
            var delay = TimeSpan.FromMilliseconds(afterCheckpoint ? rnd.Next(0, 250) : rnd.Next(50, 900));
            if (afterCheckpoint)
                while (LatestCheckpoint(state) <= before && !p.HasExited && sw.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(10, ct);
            await Task.Delay(delay, ct);
            if (p.HasExited)
            {
                Assert.True(p.ExitCode == 0, await stderr);
                Assert.Fail($"the job finished after {kills.Count} kills; the input is too small for this machine (seed {seed})");
            }
            p.Kill(); // SIGKILL
            await p.WaitForExitAsync(ct);
            kills.Add($"{(afterCheckpoint ? "ckpt+" : "start+")}{delay.TotalMilliseconds:0}ms@{sw.ElapsedMilliseconds}ms (checkpoint {LatestCheckpoint(state)})");
        }
        var final = await Cli.RunAsync(_dir, TimeSpan.FromMinutes(5), "run", spec, "--no-progress");
        Assert.True(final.ExitCode == 0, final.Stderr);
        Assert.Contains("resumed from checkpoint", final.Stderr);

        var expected = File.ReadAllLines(Path.Combine(_dir, "ref-out.jsonl"));
        var actual = File.ReadAllLines(output);
        Assert.Equal(kept, expected.Length);
        var context = $"seed {seed}; kills: {string.Join(", ", kills)}";
        Assert.True(expected.Length == actual.Length, $"expected {expected.Length} rows, got {actual.Length}; {context}");
        Array.Sort(expected, StringComparer.Ordinal);
        Array.Sort(actual, StringComparer.Ordinal);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(expected[i] == actual[i], $"row {i} differs: expected {expected[i]}, got {actual[i]}; {context}");
    }
}
