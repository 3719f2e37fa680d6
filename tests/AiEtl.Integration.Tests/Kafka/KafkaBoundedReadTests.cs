using System.Globalization;
using AiEtl.Engine;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Confluent.Kafka;
using static AiEtl.Integration.Tests.Kafka.KafkaTestSupport;

namespace AiEtl.Integration.Tests.Kafka;

/// <summary>
/// <c>stop: latest</c>: a bounded read takes each partition's end when it starts, ends by itself once every partition
/// is read up to there, leaves later messages for the next run, and commits exactly the ends it read to.
/// </summary>
[Collection("kafka")]
public sealed class KafkaBoundedReadTests(KafkaFixture fx)
{
    private string Brokers => fx.Cluster.BootstrapServers;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string NewTopic(string name, int partitions)
    {
        var topic = $"{name}-{Guid.NewGuid().ToString("N")[..12]}";
        fx.Cluster.CreateTopic(topic, partitions);
        return topic;
    }

    [Fact]
    public async Task A_bounded_pipeline_ends_by_itself_with_exactly_the_preloaded_messages_and_commits_their_ends()
    {
        // Five partitions, the last one empty; parallelism 2 (reader 0 owns 0, 2, 4 and reader 1 owns 1, 3).
        const int partitions = 5, loaded = 4, count = 8_000;
        var topic = NewTopic("bounded", partitions);
        Produce(Brokers, topic, Enumerable.Range(0, count).Select(i => (i % loaded, Order(i))));
        const string group = "g-bounded";

        var source = new KafkaSource(Options(Brokers, topic, group) with { Stop = KafkaStop.Latest });
        Assert.True(source.IsBounded);
        var (first, result) = await RunToEndAsync(source);
        Assert.False(result.Stopped); // ended by the end of its input, not by a stop request
        Assert.Equal(count, result.SourceRows);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), first.Order());
        Assert.Equal([.. Enumerable.Repeat((long)(count / loaded), loaded), 0L], Committed(Brokers, group, topic, partitions));

        // A second bounded run from the committed offsets reads only what was produced since, the empty partition included.
        Produce(Brokers, topic, Enumerable.Range(count, 50).Select(i => (i % partitions, Order(i))));
        var (second, again) = await RunToEndAsync(new KafkaSource(Options(Brokers, topic, group) with { Stop = KafkaStop.Latest, Start = KafkaStart.Committed }));
        Assert.False(again.Stopped);
        Assert.Equal(Enumerable.Range(count, 50).Select(i => (long)i), second.Order());
        Assert.Equal([.. Enumerable.Repeat((long)(count / loaded) + 10, loaded), 10L], Committed(Brokers, group, topic, partitions));
    }

    [Fact]
    public async Task A_bounded_read_stopped_midway_resumes_from_its_checkpoint_and_ends_with_exactly_the_rest()
    {
        const int partitions = 3, count = 30_000;
        var topic = NewTopic("bounded-resume", partitions);
        Produce(Brokers, topic, Enumerable.Range(0, count).Select(i => (i % partitions, Order(i))));
        const string group = "g-bounded-resume";
        var options = Options(Brokers, topic, group) with { Stop = KafkaStop.Latest, BatchSize = 100 };
        var store = new InMemoryCheckpointStore();

        // First run: a slow sink (20 ms per 100-row batch: 3 s for all; edges of 300 rows hold the source back) stopped after 1,000 rows.
        using var stop = new CancellationTokenSource();
        var firstSink = new CollectingSink("out");
        var first = Start(new KafkaSource(options), firstSink, store, stop.Token, writeDelay: TimeSpan.FromMilliseconds(20));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (firstSink.Written.Count < 1_000 && DateTime.UtcNow < deadline && !first.IsCompleted) await Task.Delay(20, Ct);
        await stop.CancelAsync();
        var stopped = await first.WaitAsync(TimeSpan.FromSeconds(90), Ct);
        Assert.True(stopped.Stopped);
        Assert.InRange(firstSink.Written.Count, 1_000, count - 1);
        Assert.Equal(firstSink.Written.Count, firstSink.Committed.Count); // the final checkpoint holds every row written

        // Second run: restores the checkpoint and ends by itself at the ends taken when it starts (nothing was added).
        var secondSink = new CollectingSink("out");
        // (The same sink type: a checkpoint restores only into the same plan.)
        var resumed = await Start(new KafkaSource(options), secondSink, store, CancellationToken.None, writeDelay: TimeSpan.Zero).WaitAsync(TimeSpan.FromSeconds(90), Ct);
        Assert.False(resumed.Stopped);
        Assert.NotNull(resumed.RestoredFromCheckpoint);
        var all = firstSink.Written.Concat(secondSink.Written).Select(Id).ToList();
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), all.Order()); // each message once: no gap, no repeat
        Assert.Equal(Enumerable.Repeat((long)(count / partitions), partitions), Committed(Brokers, group, topic, partitions));
    }

    [Fact]
    public async Task Messages_produced_after_a_bounded_read_started_are_left_for_the_next_run()
    {
        const int partitions = 2, count = 4_000;
        var topic = NewTopic("bounded-late", partitions);
        Produce(Brokers, topic, Enumerable.Range(0, count).Select(i => (i % partitions, Order(i))));

        // Small batches: the first read takes the stop offsets and returns long before the partitions are read.
        var options = Options(Brokers, topic, "g-bounded-late") with { Stop = KafkaStop.Latest, BatchSize = 100 };
        await using var reader = new KafkaSource(options).CreateReader(Context(new ListDeadLetters()));
        var ids = new List<long>();
        using (var batch = await reader.ReadNextBatchAsync(Ct))
        {
            Assert.NotNull(batch);
            ids.AddRange(Rows(batch.Data).Select(Id));
        }
        Assert.True(ids.Count < count);
        Produce(Brokers, topic, Enumerable.Range(count, 200).Select(i => (i % partitions, Order(i))));

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the bounded read did not end ({ids.Count} of {count} rows read)");
            using var batch = await reader.ReadNextBatchAsync(Ct);
            if (batch is null) break;
            ids.AddRange(Rows(batch.Data).Select(Id));
        }
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), ids.Order());
        // The position stops at the ends taken at the start: the later messages are the next run's.
        Assert.Equal(
            [(topic, 0, count / 2L), (topic, 1, count / 2L)],
            KafkaPosition.Decode(reader.SnapshotPosition(), "orders").OrderBy(kv => kv.Key.Partition.Value).Select(kv => (kv.Key.Topic, kv.Key.Partition.Value, kv.Value)));
        // Ended means ended: a read after the end is still the end.
        Assert.Null(await reader.ReadNextBatchAsync(Ct));
    }

    [Fact]
    public void The_spec_option_stop_latest_makes_the_source_bounded()
    {
        var yaml = $$"""
            name: bounded-spec
            sources:
              orders:
                kafka: { brokers: "{{Brokers}}", topic: t, stop: latest }
                schema: { id: int64 }
            sink:
              null: {}
            """;
        var loaded = PipelineSpecLoader.LoadFromString(yaml, "bounded.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
        var k = Assert.IsType<KafkaSourceSpec>(loaded.Spec!.Sources[0].Connector);
        Assert.Equal(KafkaStop.Latest, k.Stop);
        Assert.True(new KafkaSource(KafkaConnectors.SourceOptions(k, loaded.Spec.Sources[0], loaded.Spec)).IsBounded);

        var bad = PipelineSpecLoader.LoadFromString(yaml.Replace("stop: latest", "stop: end", StringComparison.Ordinal), "bounded.yaml");
        Assert.False(bad.IsValid);
        Assert.Contains(bad.FormatErrors(), e => e.Contains("stop", StringComparison.Ordinal) && e.Contains("latest", StringComparison.Ordinal));
    }

    private static long Id(string row) => long.Parse(row.Split('|')[0], CultureInfo.InvariantCulture);

    /// <summary>Runs source → collecting sink (parallelism 2, no stop request) until it ends by itself.</summary>
    private static async Task<(List<long> Ids, JobResult Result)> RunToEndAsync(KafkaSource source)
    {
        var sink = new CollectingSink("out");
        var result = await Start(source, sink, new InMemoryCheckpointStore(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(90), Ct);
        Assert.Equal(sink.Written.Count, sink.Committed.Count); // the final checkpoint covered every row
        return (sink.Written.Select(Id).ToList(), result);
    }

    /// <summary>Starts source → sink (parallelism 2, checkpoints every 200 ms into <paramref name="store"/>).</summary>
    private static Task<JobResult> Start(KafkaSource source, CollectingSink collect, ICheckpointStore store, CancellationToken stop, TimeSpan? writeDelay = null)
    {
        ISink sink = writeDelay is { } d ? new SlowSink(collect, d) : collect;
        var g = new JobGraph { Name = "kafka-bounded" };
        var src = g.Add(new JobVertex
        {
            Name = "source:orders", Parallelism = 2, Source = source, OutputSchema = source.Schema,
            CreateChain = _ => [],
        });
        var snk = g.Add(new JobVertex
        {
            Name = "sink:out", Parallelism = 2, OutputSchema = source.Schema, IsSink = true,
            CreateChain = _ => [new SinkOperator(sink, source.Schema)],
        });
        JobGraph.Connect(src, snk, Partitioning.Forward);
        return new JobRunner(g, new JobOptions
        {
            DeadLetters = new ListDeadLetters(),
            Metrics = new EngineMetrics("kafka-bounded"),
            Store = store,
            CheckpointInterval = TimeSpan.FromMilliseconds(200),
            EdgeLimits = writeDelay is null ? EdgeLimits.Default : new EdgeLimits(MaxRows: 300),
        }).RunAsync(stop, Ct);
    }

    /// <summary>A sink that takes <paramref name="delay"/> per batch, so that a run can be stopped midway.</summary>
    private sealed class SlowSink(CollectingSink inner, TimeSpan delay) : ISink
    {
        public string Name => inner.Name;
        public int MaxParallelism => inner.MaxParallelism;

        public ISinkWriter CreateWriter(Apache.Arrow.Schema input, ConnectorContext context) => new Writer(inner.CreateWriter(input, context), delay);

        private sealed class Writer(ISinkWriter inner, TimeSpan delay) : ISinkWriter
        {
            public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => inner.OpenAsync(restoredState, ct);

            public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
            {
                await Task.Delay(delay, ct);
                await inner.WriteAsync(batch, ct);
            }

            public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) => inner.PreCommitAsync(checkpointId, ct);
            public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => inner.CommitAsync(checkpointId, ct);
            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }
}
