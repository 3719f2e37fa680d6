using System.Diagnostics;
using System.Globalization;
using System.Text;
using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.Integration.Tests.Kafka;
using static AiEtl.Integration.Tests.KafkaClickHouse.KcText;

namespace AiEtl.Integration.Tests.KafkaClickHouse;

/// <summary>
/// A whole Kafka → SQL → ClickHouse job (planned from YAML, exactly-once, checkpoints in a directory) while the
/// ClickHouse server is frozen (SIGSTOP) for 30 s mid-run: the job backpressures (the source stops reading
/// after the edges and the insert buffers are full), resumes when the server does, and the table ends up
/// holding every selected message exactly once. The freeze lasts <c>AIETL_KC_FREEZE_SECONDS</c> (default 30,
/// the figure).
/// </summary>
[Collection("kafka-clickhouse")]
public sealed class KafkaClickHouseFreezeTests(KafkaFixture kafka, ClickHouseFixture ch) : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static int FreezeSeconds => int.TryParse(Environment.GetEnvironmentVariable("AIETL_KC_FREEZE_SECONDS"), out var s) && s > 0 ? s : 30;
    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-kc-freeze-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_job_backpressures_while_clickhouse_is_stopped_for_30_seconds_and_then_completes_exactly_once()
    {
        const int partitions = 16, messages = 400_000, batchRows = 20_000, readBatch = 2000;
        var id = Guid.NewGuid().ToString("N")[..8];
        var topic = "freeze-" + id;
        var table = "kc_freeze_" + id;
        var group = "kc-freeze-" + id;
        kafka.Cluster.CreateTopic(topic, partitions);
        KafkaTestSupport.Produce(kafka.Cluster.BootstrapServers, topic, Enumerable.Range(0, messages).Select(i => (i % partitions,
            Encoding.UTF8.GetBytes(Inv($$"""{"id":{{i}},"v":{{i % 1000}},"s":"row-{{i % 101}}"}""")))));

        var yaml = Inv($$"""
            name: kc-freeze
            source:
              kafka: { brokers: "{{kafka.Cluster.BootstrapServers}}", topic: {{topic}}, group: {{group}}, start: earliest, batch_size: {{readBatch}}, poll_timeout: 50ms }
              schema: { id: { type: int64, required: true }, v: int64, s: string }
            transform: |
              SELECT id, v, s FROM source WHERE v <> 7
            sink:
              clickhouse:
                url: {{ch.Server.HttpUrl}}
                table: {{table}}
                create_table: true
                order_by: [id]
                batch_rows: {{batchRows}}
                flush_interval: 200ms
                request_timeout: 2s
                max_retry_time: {{FreezeSeconds + 90}}s
            delivery: exactly-once
            checkpoint: { interval: 500ms, dir: {{Path.Combine(_dir, "state")}} }
            parallelism: 2
            """);
        var loaded = PipelineSpecLoader.LoadFromString(yaml, "freeze.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
        var plan = Planner.Plan(loaded.Spec!, ClickHouseConnectors.Register(KafkaConnectors.Register(BuiltinConnectors.Create())));
        using var metrics = new EngineMetrics("kc-freeze");
        var edge = new EdgeLimits(10_000, 4 << 20);
        using var stop = new CancellationTokenSource();
        var sw = Stopwatch.StartNew();
        var run = new JobRunner(plan.Graph, new JobOptions
        {
            Store = new DirectoryCheckpointStore(Path.Combine(_dir, "state")),
            CheckpointInterval = TimeSpan.FromMilliseconds(500),
            DeadLetters = new InMemoryDeadLetterOutput(),
            Metrics = metrics,
            EdgeLimits = edge,
        }).RunAsync(stop.Token, Ct);

        while (Interlocked.Read(ref metrics.SinkRows) < 40_000 && !run.IsCompleted && sw.Elapsed < TimeSpan.FromMinutes(2)) await Task.Delay(20, Ct);
        Assert.False(run.IsCompleted, run.IsFaulted ? run.Exception!.ToString() : "the job ended before ClickHouse was stopped");
        ch.Server.Pause();
        long readWhileFrozen, checkpointsWhileFrozen;
        try
        {
            // The writers' inserts time out (request_timeout 2 s) and retry; give the pipeline time to fill up.
            await Task.Delay(TimeSpan.FromSeconds(3), Ct);
            var from = Interlocked.Read(ref metrics.SourceRows);
            var checkpointsFrom = Interlocked.Read(ref metrics.CheckpointsCompleted);
            await Task.Delay(TimeSpan.FromSeconds(FreezeSeconds - 3), Ct);
            readWhileFrozen = Interlocked.Read(ref metrics.SourceRows) - from;
            checkpointsWhileFrozen = Interlocked.Read(ref metrics.CheckpointsCompleted) - checkpointsFrom;
            Assert.False(run.IsCompleted, run.IsFaulted ? run.Exception!.ToString() : "the job ended while ClickHouse was stopped");
        }
        finally
        {
            ch.Server.Resume();
        }
        // Backpressure: while frozen the two readers read at most what the edges, the filter and the writers'
        // insert buffers can hold (plus a batch in hand each) — not the rest of the topic.
        var bound = 2 * (edge.MaxRows + batchRows + 2 * readBatch);
        Assert.True(readWhileFrozen <= bound, $"the source read {readWhileFrozen} rows in the last {FreezeSeconds - 3} s of the freeze (bound {bound})");
        Assert.Equal(0, checkpointsWhileFrozen);
        Assert.True(Interlocked.Read(ref metrics.SourceRows) < messages, "the whole topic was read while ClickHouse was stopped");

        using (var committed = new CommittedOffsets(kafka.Cluster.BootstrapServers, group, topic, partitions))
            while (committed.Total() < messages && !run.IsCompleted && sw.Elapsed < TimeSpan.FromMinutes(4)) await Task.Delay(100, Ct);
        await stop.CancelAsync();
        var result = await run;

        var expected = Enumerable.Range(0, messages).Where(i => i % 1000 != 7).ToArray();
        Assert.Equal(messages, result.SourceRows);
        Assert.Equal(expected.Length, result.SinkRows);
        Assert.Equal(expected.Length, await ch.Server.CountAsync($"SELECT count() FROM {table}", Ct));
        Assert.Equal(expected.Length, await ch.Server.CountAsync($"SELECT uniqExact(id) FROM {table}", Ct));
        Assert.Equal(expected.Sum(i => (long)i), await ch.Server.CountAsync($"SELECT sum(id) FROM {table}", Ct));
        Assert.Equal(expected.Sum(i => (long)(i % 1000)), await ch.Server.CountAsync($"SELECT sum(v) FROM {table}", Ct));
        Assert.Equal(expected.Sum(i => (long)("row-" + (i % 101).ToString(CultureInfo.InvariantCulture)).Length),
            await ch.Server.CountAsync($"SELECT sum(length(s)) FROM {table}", Ct));
        TestContext.Current.SendDiagnosticMessage(Inv($"freeze {FreezeSeconds}s: read {readWhileFrozen} rows while frozen (bound {bound}); job {sw.Elapsed.TotalSeconds:0.0}s"));
    }
}
