using AiEtl.Engine.DeadLetters;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AiEtl.Engine;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Confluent.Kafka;
using static AiEtl.Integration.Tests.Kafka.KafkaTestSupport;

namespace AiEtl.Integration.Tests.Kafka;

/// <summary>The Kafka sink and dead-letter output, and whole pipelines planned from YAML.</summary>
[Collection("kafka")]
public sealed class KafkaPipelineTests(KafkaFixture fx)
{
    private string Brokers => fx.Cluster.BootstrapServers;

    private string NewTopic(string name, int partitions)
    {
        var topic = $"{name}-{Guid.NewGuid().ToString("N")[..12]}";
        fx.Cluster.CreateTopic(topic, partitions);
        return topic;
    }

    private static PipelinePlan Plan(string yaml)
    {
        var loaded = PipelineSpecLoader.LoadFromString(yaml, "test.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
        return Planner.Plan(loaded.Spec!, KafkaConnectors.Register(BuiltinConnectors.Create()));
    }

    [Fact]
    public async Task Generator_rows_written_by_the_kafka_sink_read_back_as_json_objects_keyed_by_a_column()
    {
        const int rows = 5000;
        var topic = NewTopic("sink", 3);
        var plan = Plan($$"""
            name: gen-to-kafka
            source:
              generator: { kind: orders, rows: {{rows}}, batch_size: 700 }
            sink:
              kafka: { brokers: "{{Brokers}}", topic: {{topic}}, key: order_id, properties: { linger.ms: 2 } }
            parallelism: 2
            """);
        var result = await new JobRunner(plan.Graph, new JobOptions { DeadLetters = new ListDeadLetters(), Metrics = new EngineMetrics("gen-to-kafka") })
            .RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        Assert.Equal(rows, result.SinkRows);

        var messages = Drain(Brokers, topic, 3, rows);
        Assert.Equal(rows, messages.Count);
        var ids = new HashSet<long>();
        foreach (var m in messages)
        {
            using var doc = JsonDocument.Parse(m.Message.Value);
            var keys = doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
            Assert.Equal(["order_id", "customer_id", "product_id", "qty", "amount", "status", "country", "ts"], keys);
            var id = doc.RootElement.GetProperty("order_id").GetInt64();
            Assert.Equal(id.ToString(CultureInfo.InvariantCulture), Encoding.UTF8.GetString(m.Message.Key!));
            Assert.EndsWith("Z", doc.RootElement.GetProperty("ts").GetString(), StringComparison.Ordinal);
            ids.Add(id);
        }
        Assert.Equal(rows, ids.Count);
    }

    [Fact]
    public async Task Kafka_source_pipeline_from_yaml_writes_rows_to_a_file_and_dead_letters_to_a_kafka_topic()
    {
        const int partitions = 4, good = 3000;
        var topic = NewTopic("yaml-src", partitions);
        var dlq = NewTopic("yaml-dlq", 1);
        var bad = new[] { "not json"u8.ToArray(), "{\"id\": 1.5}"u8.ToArray(), "{\"amount\": 3}"u8.ToArray() };
        Produce(Brokers, topic, Enumerable.Range(0, good).Select(i => (i % partitions, Order(i))).Concat(bad.Select((b, i) => (i, b))));
        var dir = Directory.CreateTempSubdirectory("aietl-kafka-");
        try
        {
            var yaml = $$"""
                name: kafka-to-file
                source:
                  kafka:
                    brokers: "{{Brokers}}"
                    topic: {{topic}}
                    group: yaml-group
                    start: earliest
                    batch_size: 512
                    poll_timeout: 50ms
                    metadata_columns: [_partition, _offset]
                  schema:
                    id: { type: int64, required: true }
                    name: string
                    amount: float64
                    ts: timestamp
                transform:
                  - filter: "amount >= 100"
                  - select: [id, amount, _partition, _offset]
                sink:
                  file: { path: "{{dir.FullName}}/out.jsonl" }
                dead_letter:
                  kafka: { brokers: "{{Brokers}}", topic: {{dlq}} }
                parallelism: 2
                """;
            var loaded = PipelineSpecLoader.LoadFromString(yaml, "test.yaml");
            Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
            var spec = loaded.Spec!;
            var registry = KafkaConnectors.Register(BuiltinConnectors.Create());
            var plan = Planner.Plan(spec, registry);
            var deadLetters = registry.CreateDeadLetterOutput(spec);
            Assert.IsType<KafkaDeadLetterOutput>(Assert.IsType<RedactingDeadLetterOutput>(deadLetters).Inner);
            var metrics = new EngineMetrics(spec.Name);
            using var stop = new CancellationTokenSource();
            var run = new JobRunner(plan.Graph, new JobOptions { DeadLetters = deadLetters, Metrics = metrics, CheckpointInterval = TimeSpan.FromMilliseconds(500) })
                .RunAsync(stop.Token, TestContext.Current.CancellationToken);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Interlocked.Read(ref metrics.SourceRows) + deadLetters.Count < good + bad.Length && DateTime.UtcNow < deadline && !run.IsCompleted)
                await Task.Delay(50, TestContext.Current.CancellationToken);
            await stop.CancelAsync();
            var result = await run;
            await deadLetters.DisposeAsync();

            Assert.Equal(good, result.SourceRows);
            Assert.Equal(bad.Length, result.DeadLetters);
            var expected = Enumerable.Range(0, good).Where(i => (i % 1000) / 4.0 >= 100).ToList();
            var lines = File.ReadAllLines(Path.Combine(dir.FullName, "out.jsonl"));
            Assert.Equal(expected.Count, lines.Length);
            var byId = lines.Select(l => JsonDocument.Parse(l).RootElement).ToDictionary(e => e.GetProperty("id").GetInt64());
            Assert.Equal(expected.Select(i => (long)i), byId.Keys.Order());
            var sample = byId[expected[0]];
            Assert.Equal(expected[0] % partitions, sample.GetProperty("_partition").GetInt32());
            Assert.Equal(expected[0] / partitions, sample.GetProperty("_offset").GetInt64());

            var letters = Drain(Brokers, dlq, 1, bad.Length);
            Assert.Equal(bad.Length, letters.Count);
            foreach (var l in letters)
            {
                var h = l.Message.Headers.ToDictionary(x => x.Key, x => Encoding.UTF8.GetString(x.GetValueBytes()));
                Assert.Equal("kafka-to-file", h["aietl.pipeline"]);
                Assert.Equal("source", h["aietl.source"]);
                Assert.Equal(topic, h["aietl.position.topic"]);
                var p = int.Parse(h["aietl.position.partition"], CultureInfo.InvariantCulture);
                Assert.Equal(good / partitions, long.Parse(h["aietl.position.offset"], CultureInfo.InvariantCulture));
                Assert.Equal(bad[p], l.Message.Value);
                Assert.Contains(h["aietl.error_class"], new[] { "decode", "schema" });
                Assert.False(string.IsNullOrEmpty(h["aietl.error"]));
                Assert.Null(l.Message.Key);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Dead_letter_output_keeps_raw_bytes_as_the_value_and_the_rest_as_headers()
    {
        var topic = NewTopic("dlq", 1);
        var now = new DateTimeOffset(2026, 5, 6, 7, 8, 9, TimeSpan.Zero).AddTicks(1234560);
        var output = new KafkaDeadLetterOutput(new KafkaDeadLetterOptions
        {
            Brokers = Brokers,
            Topic = topic,
            Pipeline = "p1",
            Time = new FixedTime(now),
        });
        byte[] raw = [0x00, 0xFF, (byte)'{', 0xC3];
        output.Write(new DeadLetter
        {
            Source = "orders",
            Position = [new("topic", "in"), new("partition", 3), new("offset", 42L)],
            ErrorClass = "decode",
            Error = "invalid UTF-8 at byte 3",
            Raw = raw,
        });
        output.Write(new DeadLetter
        {
            Source = "files",
            Position = [new("file", "a.jsonl"), new("line", 7L), new("byte_offset", 120L)],
            ErrorClass = "schema",
            Error = "missing required column 'id'",
            Raw = "{}"u8.ToArray(),
        });
        await output.FlushAsync(TestContext.Current.CancellationToken);
        Assert.Equal(2, output.Count);
        await output.DisposeAsync();

        var messages = Drain(Brokers, topic, 1, 2).OrderBy(m => m.Offset.Value).ToList();
        Assert.Equal(2, messages.Count);
        Assert.Equal(raw, messages[0].Message.Value);
        string[] Header(ConsumeResult<byte[]?, byte[]> m) => m.Message.Headers.Select(h => $"{h.Key}={Encoding.UTF8.GetString(h.GetValueBytes())}").ToArray();
        Assert.Equal(
        [
            "aietl.pipeline=p1", "aietl.source=orders",
            "aietl.position.topic=in", "aietl.position.partition=3", "aietl.position.offset=42",
            "aietl.error_class=decode", "aietl.error=invalid UTF-8 at byte 3", "aietl.time=2026-05-06T07:08:09.123456Z",
        ], Header(messages[0]));
        Assert.Contains("aietl.position.file=a.jsonl", Header(messages[1]));
        Assert.Contains("aietl.position.byte_offset=120", Header(messages[1]));
    }

    [Fact]
    public void The_kafka_sink_refuses_exactly_once_delivery_at_planning()
    {
        var loaded = PipelineSpecLoader.LoadFromString($$"""
            name: eos
            source: { generator: { kind: orders, rows: 10 } }
            sink: { kafka: { brokers: "{{Brokers}}", topic: t } }
            delivery: exactly-once
            """, "test.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
        var e = Assert.Throws<PlanException>(() => Planner.Plan(loaded.Spec!, KafkaConnectors.Register(BuiltinConnectors.Create())));
        Assert.Equal("sinks.sink", Assert.Single(e.Errors).Path);
        Assert.Contains("at-least-once", e.Errors[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_row_the_producer_cannot_send_fails_the_write_loudly()
    {
        var topic = NewTopic("toolarge", 1);
        var sink = new KafkaSink(new KafkaSinkOptions
        {
            Name = "out",
            Brokers = Brokers,
            Topic = topic,
            Properties = new Dictionary<string, string> { ["message.max.bytes"] = "1000" },
        });
        var schema = new Schema.Builder().Field(ColumnTypes.Field("s", ColumnKind.String)).Build();
        await using var writer = sink.CreateWriter(schema, Context(new ListDeadLetters()));
        await writer.OpenAsync(null, TestContext.Current.CancellationToken);
        using var builder = new BatchBuilder(schema);
        builder[0].AppendString(new string('x', 5000));
        using var batch = builder.Build();
        var e = await Assert.ThrowsAsync<KafkaSinkException>(async () => await writer.WriteAsync(batch, TestContext.Current.CancellationToken));
        Assert.Contains(topic, e.Message, StringComparison.Ordinal);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
