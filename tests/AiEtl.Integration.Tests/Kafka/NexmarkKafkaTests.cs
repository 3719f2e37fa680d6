using System.Collections.Concurrent;
using System.Text.Json;
using AiEtl.Engine;
using AiEtl.Engine.Connectors.Nexmark;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.Integration.Tests.KafkaClickHouse;
using Apache.Arrow;
using static AiEtl.Integration.Tests.Kafka.KafkaTestSupport;

namespace AiEtl.Integration.Tests.Kafka;

/// <summary>
/// Nexmark's realistic path: the generator's bids as JSON in the mock broker (several partitions), decoded by the
/// Kafka source with the bid schema declared, through the query files under <c>bench/nexmark/</c>; the output rows
/// equal the in-process nexmark source's over the same events (the windowed query's windows are all emitted at the
/// graceful stop, as at the end of bounded input).
/// </summary>
[Collection("kafka")]
public sealed class NexmarkKafkaTests(KafkaFixture fx)
{
    private const long Events = 20_000;
    private const int Partitions = 4;

    private static readonly ConcurrentDictionary<string, (string Topic, long Bids)> Topics = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record CollectSpec(CollectingSink Sink) : SinkConnectorSpec
    {
        public override string Kind => "test-collect";
        public override string Describe() => "collect";
    }

    [Theory]
    [InlineData("q0")]
    [InlineData("q5")]
    [InlineData("q7")]
    [InlineData("q11")]
    public async Task A_query_over_bids_from_the_broker_as_JSON_equals_the_in_process_run(string query)
    {
        var (topic, bids) = Topics.GetOrAdd(fx.Cluster.BootstrapServers, LoadBids);
        var sql = File.ReadAllText(Path.Combine(Aietl.RepoRoot(), "bench", "nexmark", query + ".sql"));

        var expected = await RunAsync($$"""
            name: nexmark-in-process
            sources:
              bid:
                nexmark: { stream: bid, events: {{Events}} }
                event_time: { column: date_time }
            transform: |
            {{Indent(sql)}}
            sink:
              null: {}
            parallelism: 2
            """, bids, stopAfterAllRead: false);

        var actual = await RunAsync($$"""
            name: nexmark-kafka
            sources:
              bid:
                kafka: { brokers: "{{fx.Cluster.BootstrapServers}}", topic: {{topic}}, group: nexmark-{{query}}, format: json, start: earliest }
                schema:
                  auction: { type: int64, required: true }
                  bidder: { type: int64, required: true }
                  price: { type: int64, required: true }
                  channel: { type: string, required: true }
                  url: { type: string, required: true }
                  date_time: { type: timestamp, required: true }
                  extra: { type: string, required: true }
                event_time: { column: date_time }
            transform: |
            {{Indent(sql)}}
            sink:
              null: {}
            parallelism: 2
            """, bids, stopAfterAllRead: true);

        Assert.NotEmpty(expected);
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected, actual);
    }

    private static string Indent(string sql) => string.Join("\n", sql.Replace("\r", "", StringComparison.Ordinal).Split('\n').Select(l => "  " + l));

    /// <summary>Runs the spec with its sink replaced by a collecting one; returns the rows sorted.</summary>
    private static async Task<List<string>> RunAsync(string yaml, long bids, bool stopAfterAllRead)
    {
        var loaded = PipelineSpecLoader.LoadFromString(yaml, "nexmark.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
        var sink = new CollectingSink("out");
        var spec = loaded.Spec! with { Sinks = [new SinkSpec("out", new CollectSpec(sink))] };
        var registry = KafkaConnectors.Register(BuiltinConnectors.Create()).AddSink<CollectSpec>((s, _, _) => s.Sink);
        var plan = Planner.Plan(spec, registry);
        var letters = new ListDeadLetters();
        var metrics = new EngineMetrics(spec.Name);
        using var stop = new CancellationTokenSource();
        var run = new JobRunner(plan.Graph, new JobOptions { DeadLetters = letters, Metrics = metrics }).RunAsync(stop.Token, Ct);
        if (stopAfterAllRead)
        {
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (Interlocked.Read(ref metrics.SourceRows) + letters.Count < bids && DateTime.UtcNow < deadline && !run.IsCompleted)
                await Task.Delay(20, Ct);
            await stop.CancelAsync();
        }
        var result = await run;
        Assert.Empty(letters.Letters.Select(l => l.Error));
        Assert.Equal(bids, result.SourceRows);
        var rows = sink.Written.ToList();
        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    /// <summary>The bids of <see cref="Events"/> events as JSON, in runs of 256 per partition (each partition in event-time order).</summary>
    private (string Topic, long Bids) LoadBids(string brokers)
    {
        var topic = $"nexmark-bid-{Guid.NewGuid().ToString("N")[..12]}";
        fx.Cluster.CreateTopic(topic, Partitions);
        var source = new NexmarkSource(new NexmarkOptions { Name = "bid", Stream = NexmarkStream.Bid, Events = Events });
        var messages = new List<(int Partition, byte[] Value)>();
        for (long first = 0; first < Events; first += 4096)
        {
            using var batch = source.Generate(first, (int)Math.Min(4096, Events - first));
            var rb = batch.Data;
            for (var r = 0; r < rb.Length; r++)
            {
                using var ms = new MemoryStream();
                using (var w = new Utf8JsonWriter(ms))
                {
                    w.WriteStartObject();
                    for (var c = 0; c < rb.ColumnCount; c++)
                    {
                        var name = rb.Schema.FieldsList[c].Name;
                        switch (rb.Column(c))
                        {
                            case Int64Array a: w.WriteNumber(name, a.GetValue(r)!.Value); break;
                            case StringArray a: w.WriteString(name, a.GetString(r)); break;
                            case TimestampArray a: w.WriteString(name, Value(a, r)); break;
                            default: throw new NotSupportedException(rb.Column(c).GetType().Name);
                        }
                    }
                    w.WriteEndObject();
                }
                messages.Add(((int)(messages.Count / 256 % Partitions), ms.ToArray()));
            }
        }
        Produce(brokers, topic, messages);
        return (topic, messages.Count);
    }
}
