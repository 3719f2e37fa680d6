using System.Collections.Concurrent;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using AiEtl.Engine;
using AiEtl.Engine.Connectors.Nexmark;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.Integration.Tests.KafkaClickHouse;
using Apache.Arrow;
using DuckDB.NET.Data;
using static AiEtl.Integration.Tests.Kafka.KafkaTestSupport;

namespace AiEtl.Integration.Tests.Kafka;

/// <summary>
/// Nexmark's realistic path: the generator's bids as JSON in the mock broker (several partitions), decoded by the
/// Kafka source with the bid schema declared, through the query files under <c>bench/nexmark/</c>; the output rows
/// equal the in-process nexmark source's over the same events (the windowed query's windows are all emitted at the
/// graceful stop, as at the end of bounded input). The per-day queries (q15–q17 group without a window) read the
/// broker with <c>stop: latest</c>, a bounded read, and equal DuckDB's batch SQL over the same events.
/// </summary>
[Collection("kafka")]
public sealed class NexmarkKafkaTests(KafkaFixture fx)
{
    private const long Events = 20_000;
    private const int Partitions = 4;

    private static readonly ConcurrentDictionary<string, (string Topic, long Bids)> Topics = new();

    /// <summary>Events of the per-day queries: 1000 per second from 20 s before midnight, so the bids span two days.</summary>
    private static readonly NexmarkOptions DayOptions = new()
    {
        Name = "bid",
        Stream = NexmarkStream.Bid,
        Events = Events,
        EventRate = 1_000,
        BaseTime = new DateTimeOffset(2026, 3, 1, 23, 59, 50, TimeSpan.Zero),
    };

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
        var (topic, bids) = Topics.GetOrAdd(fx.Cluster.BootstrapServers, b => LoadBids(b, new NexmarkOptions { Name = "bid", Stream = NexmarkStream.Bid, Events = Events }));
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

    [Theory]
    [InlineData("q15")]
    [InlineData("q16")]
    [InlineData("q17")]
    public async Task A_per_day_query_over_a_bounded_read_of_the_broker_equals_DuckDB(string query)
    {
        var (topic, bids) = Topics.GetOrAdd(fx.Cluster.BootstrapServers + "/day", b => LoadBids(b[..b.LastIndexOf('/')], DayOptions));
        var sql = File.ReadAllText(Path.Combine(Aietl.RepoRoot(), "bench", "nexmark", query + ".sql"));

        // stop: latest makes the source bounded, so the planner accepts a GROUP BY without a window and the
        // pipeline ends by itself after the last preloaded message.
        var actual = await RunAsync($$"""
            name: nexmark-kafka-bounded
            sources:
              bid:
                kafka: { brokers: "{{fx.Cluster.BootstrapServers}}", topic: {{topic}}, group: nexmark-{{query}}, format: json, start: earliest, stop: latest }
                schema:
                  auction: { type: int64, required: true }
                  bidder: { type: int64, required: true }
                  price: { type: int64, required: true }
                  channel: { type: string, required: true }
                  url: { type: string, required: true }
                  date_time: { type: timestamp, required: true }
                  extra: { type: string, required: true }
            transform: |
            {{Indent(sql)}}
            sink:
              null: {}
            parallelism: 2
            """, bids, stopAfterAllRead: false);

        var expected = DuckDbRows(sql);
        Assert.True(expected.Count > 1, $"{query}: DuckDB returned {expected.Count} rows, the comparison would prove little");
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected, actual);
    }

    /// <summary>The query run by DuckDB over the same bids, each row in the collecting sink's text form, sorted.</summary>
    private static List<string> DuckDbRows(string sql)
    {
        using var db = new DuckDBConnection("Data Source=:memory:");
        db.Open();
        using (var create = db.CreateCommand())
        {
            create.CommandText = "CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, date_time TIMESTAMP, extra VARCHAR)";
            create.ExecuteNonQuery();
        }
        using (var batch = new NexmarkSource(DayOptions).Generate(0, (int)Events))
        using (var appender = db.CreateAppender("bid"))
        {
            var rb = batch.Data;
            var (auction, bidder, price) = ((Int64Array)rb.Column("auction"), (Int64Array)rb.Column("bidder"), (Int64Array)rb.Column("price"));
            var (channel, url, extra) = ((StringArray)rb.Column("channel"), (StringArray)rb.Column("url"), (StringArray)rb.Column("extra"));
            var time = (TimestampArray)rb.Column("date_time");
            for (var r = 0; r < rb.Length; r++)
            {
                appender.CreateRow()
                    .AppendValue(auction.GetValue(r)).AppendValue(bidder.GetValue(r)).AppendValue(price.GetValue(r))
                    .AppendValue(channel.GetString(r)).AppendValue(url.GetString(r))
                    .AppendValue(DateTime.UnixEpoch.AddTicks(time.Values[r] * 10))
                    .AppendValue(extra.GetString(r))
                    .EndRow();
            }
        }
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        using var reader = cmd.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(string.Join("|", Enumerable.Range(0, reader.FieldCount).Select(c => reader.IsDBNull(c) ? "null" : reader.GetValue(c) switch
            {
                DateTime d when reader.GetDataTypeName(c) == "Date" || reader.GetDataTypeName(c) == "DATE" => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                DateTime t => t.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
                DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                double x => x.ToString("R", CultureInfo.InvariantCulture),
                string x => x,
                BigInteger x => x.ToString(CultureInfo.InvariantCulture),
                var v => Convert.ToInt64(v, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture),
            })));
        }
        rows.Sort(StringComparer.Ordinal);
        return rows;
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
        var result = await run.WaitAsync(TimeSpan.FromSeconds(120), Ct);
        Assert.Empty(letters.Letters.Select(l => l.Error));
        Assert.Equal(bids, result.SourceRows);
        var rows = sink.Written.ToList();
        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    /// <summary>The bids of <see cref="Events"/> events as JSON, in runs of 256 per partition (each partition in event-time order).</summary>
    private (string Topic, long Bids) LoadBids(string brokers, NexmarkOptions options)
    {
        var topic = $"nexmark-bid-{Guid.NewGuid().ToString("N")[..12]}";
        fx.Cluster.CreateTopic(topic, Partitions);
        var source = new NexmarkSource(options);
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
