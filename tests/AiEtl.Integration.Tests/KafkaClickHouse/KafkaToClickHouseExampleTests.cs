using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using AiEtl.Engine.Spec;
using AiEtl.Integration.Tests.Kafka;
using Confluent.Kafka;
using static AiEtl.Integration.Tests.KafkaClickHouse.KcText;

namespace AiEtl.Integration.Tests.KafkaClickHouse;

/// <summary>
/// <c>examples/kafka-to-clickhouse.yaml</c> as shipped: it validates, `aietl explain` shows the plan it
/// promises, and `aietl run` of it — with only the broker, ClickHouse URL, topic, group, table and state
/// directory pointed at the test servers — loads the per-minute revenue of paid orders exactly as computed
/// here, with the malformed messages in the dead-letter topic.
/// </summary>
[Collection("kafka-clickhouse")]
public sealed partial class KafkaToClickHouseExampleTests(KafkaFixture kafka, ClickHouseFixture ch) : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static string ExamplePath => Path.Combine(Aietl.RepoRoot(), "examples", "kafka-to-clickhouse.yaml");
    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-kc-example-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void The_example_is_the_designed_kafka_to_clickhouse_job()
    {
        var loaded = PipelineSpecLoader.Load(ExamplePath);
        Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
        var spec = loaded.Spec!;
        var source = Assert.Single(spec.Sources);
        Assert.Contains("kafka", source.Connector.Describe(), StringComparison.Ordinal);
        Assert.Equal("ts", source.EventTime?.Column);
        Assert.Equal(TimeSpan.FromSeconds(5), source.EventTime?.MaxOutOfOrderness);
        var sql = Assert.IsType<SqlTransformSpec>(spec.Transform);
        Assert.Contains("TUMBLE(ts, INTERVAL '1' MINUTE)", sql.Sql, StringComparison.Ordinal);
        Assert.Contains("clickhouse", Assert.Single(spec.Sinks).Connector.Describe(), StringComparison.Ordinal);
        Assert.Equal(DeliveryGuarantee.ExactlyOnce, spec.EffectiveDelivery);
        Assert.Equal(TimeSpan.FromSeconds(10), spec.Checkpoint?.Interval);
    }

    /// <summary>The example's text with the endpoints and names replaced — nothing else changes.</summary>
    private string Overridden(string topic, string group, string table, string deadLetterTopic)
    {
        var yaml = File.ReadAllText(ExamplePath);
        string Replace(string text, string from, string to)
        {
            Assert.Contains(from, text, StringComparison.Ordinal);
            return text.Replace(from, to, StringComparison.Ordinal);
        }
        yaml = Replace(yaml, "localhost:9092", $"\"{kafka.Cluster.BootstrapServers}\"");
        yaml = Replace(yaml, "http://localhost:8123", ch.Server.HttpUrl);
        yaml = Replace(yaml, "topic: orders-dead-letters", "topic: " + deadLetterTopic);
        yaml = TopicLine().Replace(yaml, "topic: " + topic, 1);
        yaml = Replace(yaml, "group: aietl-orders", "group: " + group);
        yaml = Replace(yaml, "table: revenue_per_minute", "table: " + table);
        yaml = Replace(yaml, "./state/paid-orders-per-minute", Path.Combine(_dir, "state"));
        return yaml;
    }

    [GeneratedRegex(@"topic: orders(?=\s)")]
    private static partial Regex TopicLine();

    [Fact]
    public async Task Running_the_example_against_the_test_servers_loads_the_per_minute_revenue_exactly()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var topic = "orders-" + id;
        var dlq = "orders-dl-" + id;
        var table = "revenue_per_minute_" + id;
        var group = "aietl-orders-" + id;
        const int partitions = 4, messages = 40_000;
        kafka.Cluster.CreateTopic(topic, partitions);
        kafka.Cluster.CreateTopic(dlq, 1);

        // Orders with event times 30 ms apart (20 minutes), amounts in quarters (exact float sums), three statuses.
        var start = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
        var expected = new SortedDictionary<(long Customer, long Minute), (long Orders, double Revenue)>();
        var bad = new List<byte[]> { "{\"order_id\": 1, \"ts\": \"yesterday\"}"u8.ToArray(), "not json"u8.ToArray(), "{\"customer_id\": 3}"u8.ToArray() };
        IEnumerable<(int, byte[])> Orders()
        {
            for (var i = 0; i < messages; i++)
            {
                var ts = start.AddMilliseconds(30.0 * i);
                var customer = i * 31 % 97;
                var amount = i % 400 / 4.0;
                var status = (i % 5) switch { 0 => "cancelled", 1 => "pending", _ => "paid" };
                if (status == "paid")
                {
                    var key = (customer, ts.ToUnixTimeSeconds() / 60);
                    expected.TryGetValue(key, out var e);
                    expected[key] = (e.Orders + 1, e.Revenue + amount);
                }
                yield return (customer % partitions, Encoding.UTF8.GetBytes(Inv(
                    $$"""{"order_id":{{i}},"customer_id":{{customer}},"amount":{{amount}},"status":"{{status}}","ts":"{{ts:yyyy-MM-dd'T'HH:mm:ss.fff'Z'}}"}""")));
                if (i % 10_000 == 5_000) yield return (i / 10_000, bad[i / 10_000 % bad.Count]);
            }
        }
        KafkaTestSupport.Produce(kafka.Cluster.BootstrapServers, topic, Orders());
        var total = messages + 4;

        var spec = Path.Combine(_dir, "kafka-to-clickhouse.yaml");
        File.WriteAllText(spec, Overridden(topic, group, table, dlq));

        using (var explain = new Aietl.Run(_dir, "explain", spec))
        {
            Assert.Equal(0, await explain.WaitAsync(TimeSpan.FromMinutes(2), Ct));
            // The plan: Kafka readers with event time → filter → hash by customer → TUMBLE window aggregate → ClickHouse.
            var plan = explain.Stdout;
            foreach (var part in new[]
            {
                $"kafka({topic})", "Aggregate keys [customer_id] window TUMBLE(ts, 1m) aggregates [count(*) AS orders, sum(amount) AS revenue]",
                "Filter (status = 'paid')", $"clickhouse(default.{table})", "source=KafkaSource (unbounded)", "event time: ts, watermark per partition:",
                "[hash by customer_id]", "-> sink sink (ClickHouseSink)",
            })
                Assert.True(plan.Contains(part, StringComparison.Ordinal), $"explain lacks '{part}':\n{plan}");
        }

        using var committed = new CommittedOffsets(kafka.Cluster.BootstrapServers, group, topic, partitions);
        using (var run = new Aietl.Run(_dir, "run", spec, "--no-progress"))
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            // The example checkpoints every 10 s: offsets are committed when one completes after the last message.
            while (committed.Total() < total && !run.HasExited && sw.Elapsed < TimeSpan.FromMinutes(2)) await Task.Delay(200, Ct);
            Assert.True(committed.Total() == total, $"committed {committed.Total()} of {total}: {run.Stderr}");
            Assert.Equal(0, await run.StopAsync(TimeSpan.FromMinutes(1), Ct));
            Assert.Contains("4 dead letters", run.Stderr, StringComparison.Ordinal);
        }

        var rows = (await ch.Server.QueryAsync($"SELECT customer_id, window_start, window_end, orders, revenue FROM {table} FORMAT TabSeparated", Ct))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToArray();
        var type = (await ch.Server.QueryAsync($"SELECT type FROM system.columns WHERE table = '{table}' AND name = 'window_start'", Ct)).Trim();
        string Time(long minute) => type.StartsWith("DateTime64", StringComparison.Ordinal)
            ? DateTimeOffset.FromUnixTimeSeconds(minute * 60).ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture)
            : (minute * 60_000_000).ToString(CultureInfo.InvariantCulture);
        var want = expected.Select(e => Inv($"{e.Key.Customer}\t{Time(e.Key.Minute)}\t{Time(e.Key.Minute + 1)}\t{e.Value.Orders}\t{e.Value.Revenue}"))
            .Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(want.Length, rows.Length);
        Assert.Equal(want, rows);

        var letters = KafkaTestSupport.Drain(kafka.Cluster.BootstrapServers, dlq, 1, 4);
        Assert.Equal(4, letters.Count);
        Assert.All(letters, l => Assert.Contains(bad, b => b.AsSpan().SequenceEqual(l.Message.Value)));
        Assert.All(letters, l => Assert.Equal(topic, Encoding.UTF8.GetString(l.Message.Headers.GetLastBytes("aietl.position.topic"))));
    }
}
