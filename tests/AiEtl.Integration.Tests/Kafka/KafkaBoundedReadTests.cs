using System.Globalization;
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
        var result = await new JobRunner(g, new JobOptions { DeadLetters = new ListDeadLetters(), Metrics = new EngineMetrics("kafka-bounded") })
            .RunAsync(CancellationToken.None, Ct).WaitAsync(TimeSpan.FromSeconds(90), Ct);
        Assert.Equal(sink.Written.Count, sink.Committed.Count); // the final checkpoint covered every row
        return (sink.Written.Select(Id).ToList(), result);
    }
}
