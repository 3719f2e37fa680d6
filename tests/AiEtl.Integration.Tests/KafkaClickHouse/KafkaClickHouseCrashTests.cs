using System.Diagnostics;
using System.Globalization;
using System.Text;
using AiEtl.TestSupport;
using Confluent.Kafka;
using static AiEtl.Integration.Tests.KafkaClickHouse.KcText;

namespace AiEtl.Integration.Tests.KafkaClickHouse;

/// <summary>
/// Exactly-once Kafka → ClickHouse across crashes, as users run it: <c>aietl run</c> consumes keyed JSON
/// messages preloaded in the broker, is killed with SIGKILL at random points (at random moments after start —
/// during restore and recovery too — and at random moments after the job made progress) and restarted each
/// time; the final table must equal the input exactly (nothing lost, nothing duplicated), for a pass-through
/// pipeline and for an event-time windowed aggregate (which must also equal an uninterrupted run's table).
/// The message count is <c>AIETL_KC_MESSAGES</c> (default 1,000,000).
/// </summary>
[Collection("kafka-clickhouse")]
public sealed class KafkaClickHouseCrashTests(KafkaFixture kafka, ClickHouseFixture ch) : IDisposable
{
    private const int Keys = 200, Partitions = 50, Kills = 10;
    private static readonly long BaseMicros = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1000;
    private static readonly SemaphoreSlim s_produce = new(1, 1);
    private static readonly Dictionary<string, string> s_topics = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static int Messages => int.TryParse(Environment.GetEnvironmentVariable("AIETL_KC_MESSAGES"), out var n) && n > 0 ? n - n % Partitions : 1_000_000;

    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-kc-").FullName;
    private string Brokers => kafka.Cluster.BootstrapServers;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    // Message j: key k = j % Keys (partition k % Partitions, so every partition holds every 50th message in
    // order), event time 12 ms after the previous message (1M messages span 200 minutes).
    private static long K(long j) => j % Keys;
    private static long V(long j) => (j * 7919 + 13) % 1000;
    private static long TsMicros(long j) => BaseMicros + j * 12_000;
    private static string Note(long j) => "n-" + (j % 97).ToString(CultureInfo.InvariantCulture);

    private static byte[] Json(long j)
    {
        var ts = DateTimeOffset.FromUnixTimeMilliseconds(TsMicros(j) / 1000).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        return Encoding.UTF8.GetBytes(Inv($$"""{"id":{{j}},"k":{{K(j)}},"v":{{V(j)}},"ts":"{{ts}}","note":"{{Note(j)}}"}"""));
    }

    /// <summary>The input topic (produced once per cluster and message count), checked to be complete on the broker.</summary>
    private async Task<string> InputTopicAsync()
    {
        await s_produce.WaitAsync(Ct);
        try
        {
            var id = Brokers + "/" + Messages;
            if (s_topics.TryGetValue(id, out var existing)) return existing;
            var topic = "kc-input-" + Guid.NewGuid().ToString("N")[..8];
            kafka.Cluster.CreateTopic(topic, Partitions);
            var sw = Stopwatch.StartNew();
            using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
            {
                BootstrapServers = Brokers, LingerMs = 20, EnableIdempotence = true, BatchSize = 1 << 20, QueueBufferingMaxKbytes = 1 << 18,
            }).Build())
            {
                var failed = 0;
                var keys = Enumerable.Range(0, Keys).Select(k => Encoding.UTF8.GetBytes("k-" + k.ToString(CultureInfo.InvariantCulture))).ToArray();
                for (long j = 0; j < Messages; j++)
                {
                    var k = (int)K(j);
                    var m = new Message<byte[], byte[]> { Key = keys[k], Value = Json(j) };
                    while (true)
                    {
                        try
                        {
                            producer.Produce(new TopicPartition(topic, k % Partitions), m, r => { if (r.Error.IsError) Interlocked.Increment(ref failed); });
                            break;
                        }
                        catch (ProduceException<byte[], byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                        {
                            producer.Poll(TimeSpan.FromMilliseconds(10));
                        }
                    }
                }
                Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(120)));
                Assert.Equal(0, failed);
            }
            // The mock keeps only ~5 MiB per partition and drops older data silently: check that every message is still there.
            using (var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Brokers, GroupId = "kc-check" }).Build())
                for (var p = 0; p < Partitions; p++)
                {
                    var wm = c.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10));
                    Assert.True(wm.Low == 0 && wm.High == Messages / Partitions,
                        $"partition {p} holds offsets {wm.Low}..{wm.High}, expected 0..{Messages / Partitions} (broker retention dropped data: use more partitions)");
                }
            TestContext.Current.SendDiagnosticMessage($"produced {Messages:N0} messages to {Partitions} partitions in {sw.Elapsed.TotalSeconds:0.0}s");
            s_topics[id] = topic;
            return topic;
        }
        finally
        {
            s_produce.Release();
        }
    }

    private string Spec(string name, string topic, string group, string table, bool windowed) => Inv($$"""
        name: {{name}}
        source:
          kafka:
            brokers: "{{Brokers}}"
            topic: {{topic}}
            group: {{group}}
            start: earliest
            batch_size: 5000
            poll_timeout: 50ms
          schema:
            id: { type: int64, required: true }
            k: { type: int64, required: true }
            v: int64
            ts: { type: timestamp, required: true }
            note: string
          # Event time rises with the offset in each partition, but a reader's partitions are fetched unevenly
          # (minutes of event time apart): only per-partition watermarks keep the late-row set empty here.
          event_time: { column: ts, max_out_of_orderness: 1m }
        transform: |
          {{(windowed
              ? "SELECT k, window_start, window_end, count(*) AS n, sum(v) AS total FROM source GROUP BY k, TUMBLE(ts, INTERVAL '1' MINUTE)"
              : "SELECT id, k, v, ts, note FROM source WHERE v % 10 <> 3")}}
        sink:
          clickhouse:
            url: {{ch.Server.HttpUrl}}
            table: {{table}}
            create_table: true
            order_by: [{{(windowed ? "k, window_start" : "k, id")}}]
            batch_rows: 100000
            flush_interval: 500ms
            request_timeout: 30s
            max_retry_time: 2m
        dead_letter: { file: {{Path.Combine(_dir, name + "-dead.jsonl")}} }
        delivery: exactly-once
        checkpoint: { interval: 500ms, dir: {{Path.Combine(_dir, name + "-state")}}, keep: 2 }
        parallelism: 2
        """);

    [Fact]
    public Task Pass_through_job_killed_ten_times_loads_every_message_exactly_once() => RunCrashTestAsync(windowed: false);

    [Fact]
    public Task Windowed_job_killed_ten_times_gives_the_table_of_an_uninterrupted_run() => RunCrashTestAsync(windowed: true);

    private async Task RunCrashTestAsync(bool windowed)
    {
        var total = Stopwatch.StartNew();
        var topic = await InputTopicAsync();
        var log = new List<string>();
        var kind = windowed ? "win" : "pass";
        var table = $"kc_{kind}_{Environment.ProcessId}_{Guid.NewGuid().ToString("N")[..6]}";
        var group = $"kc-{kind}-{Guid.NewGuid().ToString("N")[..8]}";
        var spec = Path.Combine(_dir, kind + ".yaml");
        File.WriteAllText(spec, Spec(kind, topic, group, table, windowed));

        var seed = Environment.TickCount;
        var rnd = new Random(seed);
        // Progress kills happen after the job has checkpointed (committed) these fractions of the input.
        var targets = Enumerable.Range(0, Kills / 2).Select(_ => 0.05 + rnd.NextDouble() * 0.85).Order().ToArray();
        using var committed = new CommittedOffsets(Brokers, group, topic, Partitions);
        var sw = Stopwatch.StartNew();
        for (var kill = 0; kill < Kills; kill++)
        {
            using var run = new Aietl.Run(_dir, "run", spec, "--no-progress");
            var started = Stopwatch.StartNew();
            string point;
            if (kill % 2 == 0)
            {
                // Anywhere from start-up (restore, recovery of the table) into processing.
                var delay = rnd.Next(300, 3000);
                await Task.Delay(delay, Ct);
                point = Inv($"start+{delay}ms");
            }
            else
            {
                var target = (long)(targets[kill / 2] * Messages);
                while (committed.Total() < target && !run.HasExited && started.Elapsed < TimeSpan.FromMinutes(2)) await Task.Delay(50, Ct);
                var delay = rnd.Next(0, 500);
                await Task.Delay(delay, Ct);
                point = Inv($"committed≥{target}+{delay}ms@{started.ElapsedMilliseconds}ms");
            }
            Assert.False(run.HasExited, $"aietl exited early (code {(run.HasExited ? run.ExitCode : 0)}) before kill {kill + 1}: {run.Stderr}; seed {seed}");
            await run.KillAsync(Ct);
            log.Add(Inv($"{point} (committed {committed.Total()}, table {await RowsSoFarAsync(table)} rows)"));
        }
        var killPhase = sw.Elapsed;
        var context = $"seed {seed}; kills: {string.Join("; ", log)}";

        // The last run goes to the end of the input, then stops gracefully.
        // The kills may already have committed every offset: the final run must still have started (restored and taken a
        // checkpoint of its own) before it is signalled, or the signal lands before its handlers exist.
        var stateDir = Path.Combine(_dir, kind + "-state");
        static long LastCheckpoint(string dir) => Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir, "chk-*.ckpt").Select(f => long.Parse(Path.GetFileNameWithoutExtension(f)[4..], CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max()
            : 0;
        var lastBefore = LastCheckpoint(stateDir);
        using (var final = new Aietl.Run(_dir, "run", spec, "--no-progress"))
        {
            var deadline = Stopwatch.StartNew();
            while ((committed.Total() < Messages || LastCheckpoint(stateDir) <= lastBefore) && !final.HasExited && deadline.Elapsed < TimeSpan.FromMinutes(3)) await Task.Delay(100, Ct);
            Assert.True(LastCheckpoint(stateDir) > lastBefore, $"the final run took no checkpoint: {final.Stderr}; {context}");
            Assert.True(committed.Total() == Messages, $"the final run did not reach the end of the input: committed {committed.Total()}; {final.Stderr}; {context}");
            var code = await final.StopAsync(TimeSpan.FromMinutes(1), Ct);
            Assert.True(code == 0, $"exit {code}: {final.Stderr}; {context}");
            Assert.Contains("resumed from checkpoint", final.Stderr, StringComparison.Ordinal);
        }
        var deadLetters = Path.Combine(_dir, kind + "-dead.jsonl");
        if (File.Exists(deadLetters) && new FileInfo(deadLetters).Length > 0)
            Assert.Fail($"dead letters (late rows would make the result depend on timing): {File.ReadLines(deadLetters).First()}; {context}");

        if (windowed)
        {
            var expected = ExpectedWindows();
            var actual = await WindowRowsAsync(table);
            AssertSameLines(expected, actual, context);

            // The same job run once without interruption (its own group and table) gives the same table.
            var refTable = table + "_ref";
            var refGroup = group + "-ref";
            var refSpec = Path.Combine(_dir, "ref.yaml");
            File.WriteAllText(refSpec, Spec("ref", topic, refGroup, refTable, windowed: true));
            using var refCommitted = new CommittedOffsets(Brokers, refGroup, topic, Partitions);
            var refWatch = Stopwatch.StartNew();
            using (var reference = new Aietl.Run(_dir, "run", refSpec, "--no-progress"))
            {
                while (refCommitted.Total() < Messages && !reference.HasExited && refWatch.Elapsed < TimeSpan.FromMinutes(3)) await Task.Delay(100, Ct);
                Assert.True(refCommitted.Total() == Messages, $"the uninterrupted run did not reach the end: {reference.Stderr}");
                Assert.Equal(0, await reference.StopAsync(TimeSpan.FromMinutes(1), Ct));
            }
            AssertSameLines(await WindowRowsAsync(refTable), actual, context + " (vs the uninterrupted run)");
            log.Add(Inv($"uninterrupted run {refWatch.Elapsed.TotalSeconds:0.0}s"));
        }
        else
        {
            var (rows, perKey) = ExpectedPassThrough();
            Assert.True(rows == await ch.Server.CountAsync($"SELECT count() FROM {table}", Ct), $"row count; {context}");
            Assert.True(rows == await ch.Server.CountAsync($"SELECT uniqExact(id) FROM {table}", Ct), $"duplicate ids; {context}");
            var ts = await MicrosExpressionAsync(table, "ts");
            var actual = (await ch.Server.QueryAsync(
                $"SELECT k, count(), sum(id), sum(v), sum({ts}), sum(length(note)) FROM {table} GROUP BY k ORDER BY k FORMAT TabSeparated", Ct))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries);
            AssertSameLines(perKey, actual, context);
        }
        TestContext.Current.SendDiagnosticMessage(Inv($"{kind}: {Messages:N0} messages, kills in {killPhase.TotalSeconds:0.0}s, total {total.Elapsed.TotalSeconds:0.0}s; {context}"));
    }

    /// <summary>Rows in the table now (uncommitted ones included); −1 before the job created it.</summary>
    private async Task<long> RowsSoFarAsync(string table) =>
        await ch.Server.CountAsync($"SELECT count() FROM system.tables WHERE database = 'default' AND name = '{table}'", Ct) == 0
            ? -1
            : await ch.Server.CountAsync($"SELECT count() FROM {table}", Ct);

    private static void AssertSameLines(IReadOnlyList<string> expected, IReadOnlyList<string> actual, string context)
    {
        var e = expected.Order(StringComparer.Ordinal).ToArray();
        var a = actual.Order(StringComparer.Ordinal).ToArray();
        if (e.SequenceEqual(a)) return;
        var missing = e.Except(a).Take(5);
        var extra = a.Except(e).Take(5);
        Assert.Fail($"expected {e.Length} rows, got {a.Length}; missing e.g. [{string.Join(" | ", missing)}], unexpected e.g. [{string.Join(" | ", extra)}]; {context}");
    }

    /// <summary>A timestamp column as µs since the epoch: Int64 µs on 18.x/19.x, DateTime64(6) on newer servers.</summary>
    private async Task<string> MicrosExpressionAsync(string table, string column)
    {
        var type = (await ch.Server.QueryAsync($"SELECT type FROM system.columns WHERE database = 'default' AND table = '{table}' AND name = '{column}'", Ct)).Trim();
        return type.StartsWith("DateTime64", StringComparison.Ordinal) ? $"toUnixTimestamp64Micro({column})" : column;
    }

    private async Task<string[]> WindowRowsAsync(string table)
    {
        var ws = await MicrosExpressionAsync(table, "window_start");
        var we = await MicrosExpressionAsync(table, "window_end");
        return (await ch.Server.QueryAsync($"SELECT k, {ws}, {we}, n, total FROM {table} FORMAT TabSeparated", Ct))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static (long Rows, List<string> PerKey) ExpectedPassThrough()
    {
        var n = new long[Keys];
        var ids = new long[Keys];
        var vs = new long[Keys];
        var ts = new long[Keys];
        var notes = new long[Keys];
        long rows = 0;
        for (long j = 0; j < Messages; j++)
        {
            if (V(j) % 10 == 3) continue;
            var k = K(j);
            n[k]++;
            ids[k] += j;
            vs[k] += V(j);
            ts[k] += TsMicros(j);
            notes[k] += Note(j).Length;
            rows++;
        }
        return (rows, Enumerable.Range(0, Keys).Where(k => n[k] > 0).Select(k => Inv($"{k}\t{n[k]}\t{ids[k]}\t{vs[k]}\t{ts[k]}\t{notes[k]}")).ToList());
    }

    private static List<string> ExpectedWindows()
    {
        const long Minute = 60_000_000;
        var groups = new SortedDictionary<(long K, long Start), (long N, long Total)>();
        for (long j = 0; j < Messages; j++)
        {
            var key = (K(j), TsMicros(j) / Minute * Minute);
            groups.TryGetValue(key, out var g);
            groups[key] = (g.N + 1, g.Total + V(j));
        }
        return groups.Select(g => Inv($"{g.Key.K}\t{g.Key.Start}\t{g.Key.Start + Minute}\t{g.Value.N}\t{g.Value.Total}")).ToList();
    }
}
