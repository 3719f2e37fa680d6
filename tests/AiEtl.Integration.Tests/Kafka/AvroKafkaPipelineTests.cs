using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Kafka.Avro;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.TestSupport;
using Avro.Generic;
using Confluent.Kafka;
using static AiEtl.Integration.Tests.Kafka.AvroWriter;
using static AiEtl.Integration.Tests.Kafka.KafkaTestSupport;

namespace AiEtl.Integration.Tests.Kafka;

/// <summary>
/// <c>format: avro</c> end to end: messages written by Confluent's AvroSerializer (two writer schema versions in one
/// topic, plus malformed ones) in the mock broker, writer schemas in the schema registry stand-in of AiEtl.TestSupport
/// (it stands in for Confluent's registry, which is not on these machines), read by a pipeline planned from YAML.
/// </summary>
[Collection("kafka")]
public sealed class AvroKafkaPipelineTests(KafkaFixture fx)
{
    private string Brokers => fx.Cluster.BootstrapServers;

    private string NewTopic(string name, int partitions)
    {
        var topic = $"{name}-{Guid.NewGuid().ToString("N")[..12]}";
        fx.Cluster.CreateTopic(topic, partitions);
        return topic;
    }

    internal const string V1 = """
        {"type":"record","name":"Order","namespace":"shop","fields":[
          {"name":"id","type":"long"},
          {"name":"name","type":"string"},
          {"name":"amount","type":"double"},
          {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
          {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}},
          {"name":"note","type":"string"}
        ]}
        """;

    // v2: name becomes nullable, ts microseconds, note dropped, country and qty added with defaults.
    internal const string V2 = """
        {"type":"record","name":"Order","namespace":"shop","fields":[
          {"name":"id","type":"long"},
          {"name":"name","type":["null","string"],"default":null},
          {"name":"amount","type":"double"},
          {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
          {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}},
          {"name":"country","type":"string","default":"NL"},
          {"name":"qty","type":"int","default":0}
        ]}
        """;

    private static readonly DateTime T0 = new(2026, 11, 29, 0, 0, 0, DateTimeKind.Utc);

    internal sealed record Expected(long Id, string? Name, double Amount, DateTime Ts, string Status, string Country, int Qty);

    internal static Expected Row(long id) => id < 1500
        ? new Expected(id, $"n{id % 7}-é", id * 0.25 - 100, T0.AddMilliseconds(id * 1001), id % 3 == 0 ? "PAID" : "NEW", "NL", 0)
        : new Expected(id, id % 5 == 0 ? null : $"m{id}", id / 3.0, T0.AddTicks(id * 10_000_017 / 10 * 10), id % 2 == 0 ? "PAID" : "NEW", id % 4 == 0 ? "DE" : "FR", (int)(id % 100) - 50);

    /// <summary>Ids 0..1499 written with <see cref="V1"/>, the rest with <see cref="V2"/>; id % partitions is the partition.</summary>
    internal static List<(int Partition, byte[] Value)> Messages(AvroWriter writer, string topic, int total, int partitions)
    {
        var v1 = Parse(V1);
        var v2 = Parse(V2);
        var messages = new List<(int Partition, byte[] Value)>();
        for (long id = 0; id < total; id++)
        {
            var e = Row(id);
            GenericRecord r = id < 1500
                ? Record(v1, ("id", id), ("name", e.Name), ("amount", e.Amount), ("ts", e.Ts), ("status", AvroWriter.Enum(v1, "status", e.Status)), ("note", "dropped"))
                : Record(v2, ("id", id), ("name", e.Name), ("amount", e.Amount), ("ts", e.Ts), ("status", AvroWriter.Enum(v2, "status", e.Status)),
                    ("country", e.Country), ("qty", e.Qty));
            messages.Add(((int)(id % partitions), writer.Serialize(topic, r)));
        }
        return messages;
    }

    [Fact]
    public async Task Two_writer_versions_and_malformed_messages_through_a_yaml_pipeline_lose_nothing()
    {
        const int partitions = 4, total = 3000;
        await using var registry = SchemaRegistryStandIn.Start("etl", "reg-Secret-5521");
        var topic = NewTopic("avro", partitions);
        using var writer = new AvroWriter(registry.Url, "etl", "reg-Secret-5521");
        var messages = Messages(writer, topic, total, partitions);
        var sample = messages[^1].Value;
        var unknownId = (byte[])sample.Clone();
        BinaryPrimitives.WriteInt32BigEndian(unknownId.AsSpan(1), 424242);
        var bad = new (byte[]? Value, string Fragment)[]
        {
            ([1, .. sample[1..]], "magic byte 1"),
            (unknownId, "schema id 424242"),
            (sample[..^2], "runs past the end"),
            ("{\"id\":1}"u8.ToArray(), "magic byte 123"),
            ([], "shorter than the 5-byte"),
            (null, "tombstone"),
        };
        Produce(Brokers, topic, messages);
        // Malformed messages interleaved after the good ones, on partition 1.
        using (var p = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = Brokers }).Build())
        {
            foreach (var (value, _) in bad) await p.ProduceAsync(new TopicPartition(topic, 1), new Message<byte[]?, byte[]?> { Value = value }, TestContext.Current.CancellationToken);
        }
        var ids = registry.Requests.Count;

        var dir = Directory.CreateTempSubdirectory("aietl-avro-");
        try
        {
            var yaml = $$"""
                name: avro-to-file
                source:
                  kafka:
                    brokers: "{{Brokers}}"
                    topic: {{topic}}
                    format: avro
                    start: earliest
                    batch_size: 400
                    poll_timeout: 50ms
                    metadata_columns: [_partition, _offset]
                    schema_registry:
                      url: "{{registry.Url}}"
                      basic_auth_user: etl
                      basic_auth_password: ${REGISTRY_PASSWORD}
                sink:
                  file: { path: "{{dir.FullName}}/out.jsonl" }
                parallelism: 2
                """;
            var loaded = PipelineSpecLoader.LoadFromString(yaml, "test.yaml", n => n == "REGISTRY_PASSWORD" ? "reg-Secret-5521" : null);
            Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
            var plan = Planner.Plan(loaded.Spec!, KafkaConnectors.Register(BuiltinConnectors.Create()));
            var deadLetters = new ListDeadLetters();
            var metrics = new EngineMetrics("avro-to-file");
            using var stop = new CancellationTokenSource();
            var run = new JobRunner(plan.Graph, new JobOptions { DeadLetters = deadLetters, Metrics = metrics, CheckpointInterval = TimeSpan.FromMilliseconds(500) })
                .RunAsync(stop.Token, TestContext.Current.CancellationToken);
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (Interlocked.Read(ref metrics.SourceRows) + deadLetters.Count < total + bad.Length && DateTime.UtcNow < deadline && !run.IsCompleted)
                await Task.Delay(50, TestContext.Current.CancellationToken);
            await stop.CancelAsync();
            var result = await run;

            Assert.Equal(total, result.SourceRows);
            Assert.Equal(bad.Length, result.DeadLetters);
            var lines = File.ReadAllLines(Path.Combine(dir.FullName, "out.jsonl"));
            Assert.Equal(total, lines.Length);
            var seen = new HashSet<long>();
            foreach (var line in lines)
            {
                using var doc = JsonDocument.Parse(line);
                var o = doc.RootElement;
                Assert.Equal(["id", "name", "amount", "ts", "status", "country", "qty", "_partition", "_offset"], o.EnumerateObject().Select(p => p.Name));
                var id = o.GetProperty("id").GetInt64();
                Assert.True(seen.Add(id), $"id {id} twice");
                var e = Row(id);
                Assert.Equal(e.Name, o.GetProperty("name").ValueKind == JsonValueKind.Null ? null : o.GetProperty("name").GetString());
                Assert.Equal(e.Amount, o.GetProperty("amount").GetDouble());
                Assert.Equal(e.Ts.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture), o.GetProperty("ts").GetString());
                Assert.Equal(e.Status, o.GetProperty("status").GetString());
                Assert.Equal(e.Country, o.GetProperty("country").GetString());
                Assert.Equal(e.Qty, o.GetProperty("qty").GetInt32());
                Assert.Equal(id % partitions, o.GetProperty("_partition").GetInt32());
                Assert.Equal(id / partitions, o.GetProperty("_offset").GetInt64());
            }
            Assert.Equal(total, seen.Count);

            var letters = deadLetters.Letters.OrderBy(l => (long)l.Position.Single(p => p.Key == "offset").Value).ToList();
            Assert.Equal(bad.Length, letters.Count);
            for (var k = 0; k < bad.Length; k++)
            {
                var l = letters[k];
                var pos = l.Position.ToDictionary(p => p.Key, p => p.Value);
                Assert.Equal(topic, pos["topic"]);
                Assert.Equal(1, pos["partition"]);
                Assert.Equal((long)(total / partitions + k), pos["offset"]);
                Assert.Equal(bad[k].Value ?? [], l.Raw.ToArray());
                Assert.Contains(bad[k].Fragment, l.Error, StringComparison.Ordinal);
                Assert.Equal("source", l.Source);
            }
            // Writer schemas are fetched once per id per reader (the serializer's own requests came before).
            var fetches = registry.Requests.Skip(ids).Count(r => r.StartsWith("GET /schemas/ids/", StringComparison.Ordinal));
            Assert.InRange(fetches, 2, 2 * 3);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Plan_fails_naming_the_subject_and_fields_when_the_registry_schema_cannot_become_columns()
    {
        await using var registry = SchemaRegistryStandIn.Start();
        registry.Register("nested-value", """
            {"type":"record","name":"X","fields":[{"name":"id","type":"long"},{"name":"tags","type":{"type":"array","items":"string"}}]}
            """);
        registry.Register("flat-value", """
            {"type":"record","name":"F","fields":[{"name":"id","type":"long"},{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}
            """);
        PlanException Fails(string topic, string extra = "", string eventTime = "")
        {
            var loaded = PipelineSpecLoader.LoadFromString($$"""
                name: p
                source:
                  kafka: { brokers: "{{Brokers}}", topic: {{topic}}, format: avro, schema_registry: { url: "{{registry.Url}}"{{extra}} } }
                  {{eventTime}}
                sink: { null: }
                """, "test.yaml");
            Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
            return Assert.Throws<PlanException>(() => Planner.Plan(loaded.Spec!, KafkaConnectors.Register(BuiltinConnectors.Create())));
        }
        var nested = Fails("nested");
        var e = Assert.Single(nested.Errors);
        Assert.Equal("sources.source.kafka.schema_registry", e.Path);
        Assert.Contains("subject 'nested-value'", e.Message, StringComparison.Ordinal);
        Assert.Contains("'tags'", e.Message, StringComparison.Ordinal);
        Assert.Contains("array", e.Message, StringComparison.Ordinal);
        var missing = Assert.Single(Fails("nowhere").Errors);
        Assert.Contains("subject 'nowhere-value' has no schema", missing.Message, StringComparison.Ordinal);
        // Event time on a derived schema is checked when the columns are known.
        var noColumn = Assert.Single(Fails("flat", eventTime: "event_time: { column: tss }").Errors);
        Assert.Equal("sources.source.event_time.column", noColumn.Path);
        Assert.Contains("'tss' is not in the source schema (id, ts)", noColumn.Message, StringComparison.Ordinal);
        var notTime = Assert.Single(Fails("flat", eventTime: "event_time: { column: id }").Errors);
        Assert.Contains("must be a timestamp", notTime.Message, StringComparison.Ordinal);
        // A registry that does not answer fails the plan naming it.
        var url = registry.Url;
        await registry.DisposeAsync();
        var down = Assert.Single(Fails("nested").Errors);
        Assert.Contains(url, down.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_that_do_not_fit_the_format_are_configuration_errors()
    {
        KafkaSourceOptions Options(KafkaFormat format) => new()
        {
            Name = "orders",
            Brokers = Brokers,
            Topics = ["t"],
            Group = "g",
            Schema = new Apache.Arrow.Schema.Builder().Field(ColumnTypes.Field("ts", ColumnKind.Timestamp)).Build(),
            Format = format,
        };
        var registry = new AvroRegistryOptions { Url = "http://127.0.0.1:9" };
        var epoch = Assert.Throws<AiEtl.Engine.Connectors.ConnectorConfigException>(() => new KafkaSource(Options(KafkaFormat.Avro) with
        {
            SchemaRegistry = registry,
            Columns = new Dictionary<string, AiEtl.Engine.Json.JsonColumnOptions> { ["ts"] = new(TimeFormat: AiEtl.Engine.Json.JsonTimeFormat.EpochMillis) },
        }));
        Assert.Contains("a time format applies to JSON", epoch.Message, StringComparison.Ordinal);
        var noRegistry = Assert.Throws<AiEtl.Engine.Connectors.ConnectorConfigException>(() => new KafkaSource(Options(KafkaFormat.Avro)));
        Assert.Contains("needs schema_registry", noRegistry.Message, StringComparison.Ordinal);
        var json = Assert.Throws<AiEtl.Engine.Connectors.ConnectorConfigException>(() => new KafkaSource(Options(KafkaFormat.Json) with { SchemaRegistry = registry }));
        Assert.Contains("applies only with format avro", json.Message, StringComparison.Ordinal);
        // A declared schema is enough to build the source: the registry is contacted only when a reader meets a schema id.
        Assert.Equal(["ts"], new KafkaSource(Options(KafkaFormat.Avro) with { SchemaRegistry = registry }).Schema.FieldsList.Select(f => f.Name));
    }

    [Fact]
    public async Task An_unreachable_registry_stops_the_source_instead_of_dead_lettering_the_message()
    {
        var topic = NewTopic("avro-down", 1);
        var registry = SchemaRegistryStandIn.Start();
        var schema = Parse("""{"type":"record","name":"S","fields":[{"name":"id","type":"long"}]}""");
        using (var writer = new AvroWriter(registry.Url))
            Produce(Brokers, topic, Enumerable.Range(0, 10).Select(i => (0, writer.Serialize(topic, Record(schema, ("id", (long)i))))));
        var url = registry.Url;
        await registry.DisposeAsync();

        var source = new KafkaSource(IdOptions(topic, "avro-down", new AvroRegistryOptions { Url = url, RequestTimeout = TimeSpan.FromSeconds(5) }));
        var deadLetters = new ListDeadLetters();
        await using var reader = source.CreateReader(Context(deadLetters));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        KafkaSourceException? failure = null;
        var rows = 0;
        while (failure is null && DateTime.UtcNow < deadline)
        {
            try
            {
                using var batch = await reader.ReadNextBatchAsync(TestContext.Current.CancellationToken);
                rows += batch!.Length;
            }
            catch (KafkaSourceException e)
            {
                failure = e;
            }
        }
        Assert.NotNull(failure);
        Assert.Contains("schema registry", failure.Message, StringComparison.Ordinal);
        Assert.Equal(0, rows);
        Assert.Empty(deadLetters.Letters);
    }

    [Fact]
    public async Task The_registry_client_is_shared_by_the_readers_of_a_run_and_disposed_when_the_last_one_closes()
    {
        var topic = NewTopic("avro-client", 2);
        await using var registry = SchemaRegistryStandIn.Start();
        var source = new KafkaSource(IdOptions(topic, "avro-client", new AvroRegistryOptions { Url = registry.Url }));
        Assert.Equal((null, 0), source.AvroSchemasInUse);
        var first = source.CreateReader(Context(new ListDeadLetters(), 0, 2));
        var second = source.CreateReader(Context(new ListDeadLetters(), 1, 2));
        var (client, users) = source.AvroSchemasInUse;
        Assert.IsType<SchemaRegistryProvider>(client);
        Assert.Equal(2, users);
        await first.DisposeAsync();
        Assert.Equal((client, 1), source.AvroSchemasInUse);
        await second.DisposeAsync();
        Assert.Equal((null, 0), source.AvroSchemasInUse);
        // Disposed: its HTTP client is gone.
        Assert.ThrowsAny<ObjectDisposedException>(() => ((SchemaRegistryProvider)client!).TryGetWriterSchema(1, out _, out _));
        // A later run gets a client of its own.
        await using var third = source.CreateReader(Context(new ListDeadLetters(), 0, 1));
        Assert.NotSame(client, source.AvroSchemasInUse.Provider);
    }

    /// <summary>An Avro source of one <c>id</c> column read from the start of <paramref name="topic"/>.</summary>
    private KafkaSourceOptions IdOptions(string topic, string group, AvroRegistryOptions registry) => new()
    {
        Name = "orders",
        Brokers = Brokers,
        Topics = [topic],
        Group = group,
        Start = KafkaStart.Earliest,
        Schema = new Apache.Arrow.Schema.Builder().Field(ColumnTypes.Field("id", ColumnKind.Int64, nullable: false)).Build(),
        Format = KafkaFormat.Avro,
        SchemaRegistry = registry,
    };
}
