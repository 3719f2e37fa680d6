using AiEtl.Engine.Columns;
using AiEtl.Engine.Spec;
using static AiEtl.Engine.Tests.Spec.SpecTestSupport;

namespace AiEtl.Engine.Tests.Spec;

/// <summary>The kafka source, sink and dead-letter options in specs.</summary>
public sealed class KafkaSpecTests
{
    [Fact]
    public void Kafka_source_with_every_option_loads_and_appends_metadata_columns_to_the_schema()
    {
        var spec = LoadValid("""
            name: k
            source:
              kafka:
                brokers: b1:9092,b2:9092
                topic: orders
                group: g1
                format: json
                start: latest
                batch_size: 1000
                poll_timeout: 250ms
                metadata_columns: [_partition, _timestamp]
                on_offset_out_of_range: reset
                properties: { fetch.max.bytes: 1048576, check.crcs: true, client.rack: r1 }
              schema: { id: { type: int64, required: true }, ts: timestamp }
              event_time: { column: _timestamp }
            sink: { null: }
            """);
        var source = spec.Sources[0];
        var k = Assert.IsType<KafkaSourceSpec>(source.Connector);
        Assert.Equal("b1:9092,b2:9092", k.Brokers);
        Assert.Equal(["orders"], k.Topics);
        Assert.Equal("g1", k.Group);
        Assert.Equal(KafkaFormat.Json, k.Format);
        Assert.Equal(KafkaStart.Latest, k.Start);
        Assert.Equal(1000, k.BatchSize);
        Assert.Equal(TimeSpan.FromMilliseconds(250), k.PollTimeout);
        Assert.Equal(["_partition", "_timestamp"], k.MetadataColumns);
        Assert.Equal(KafkaOffsetOutOfRange.Reset, k.OnOffsetOutOfRange);
        Assert.Equal("1048576", k.Properties["fetch.max.bytes"]);
        Assert.Equal("true", k.Properties["check.crcs"]);
        Assert.Equal("r1", k.Properties["client.rack"]);
        Assert.Equal(["id", "ts", "_partition", "_timestamp"], source.Schema.Select(c => c.Name));
        Assert.Equal(ColumnKind.Int32, source.Schema[2].Type);
        Assert.Equal(ColumnKind.Timestamp, source.Schema[3].Type);
        Assert.Equal("_timestamp", source.EventTime!.Column);
        Assert.Equal("kafka(orders)", k.Describe());
    }

    [Fact]
    public void Kafka_source_defaults_are_unset_and_topics_may_be_a_list()
    {
        var k = Assert.IsType<KafkaSourceSpec>(LoadValid("""
            name: k
            source:
              kafka: { brokers: "localhost:9092", topics: [a, b.c, d_e-f] }
              schema: { id: int64 }
            sink: { null: }
            """).Sources[0].Connector);
        Assert.Equal(["a", "b.c", "d_e-f"], k.Topics);
        Assert.Null(k.Group);
        Assert.Null(k.Start);
        Assert.Null(k.BatchSize);
        Assert.Null(k.PollTimeout);
        Assert.Null(k.OnOffsetOutOfRange);
        Assert.Empty(k.MetadataColumns);
        Assert.Empty(k.Properties);
    }

    [Fact]
    public void Kafka_source_problems_are_reported_together_with_their_positions()
    {
        var errors = Errors("""
            name: k
            source:
              kafka:
                topic: orders
                topics: [a]
                start: begining
                poll_timeout: 100
                metadata_columns: [_partition, _ofset, _partition]
                on_offset_out_of_range: skip
                properties: { group.id: x, auto.offset.reset: latest, linger.ms: [1] }
              schema: { id: int64, _partition: int32 }
            sink: { null: }
            """);
        var lines = errors.Select(e => $"{e.Line}:{e.Column} {e.Path}: {e.Message}").ToArray();
        Assert.Equal(
        [
            "4:5 source.kafka.brokers: missing required key 'brokers'",
            "5:5 source.kafka.topics: use either 'topic' or 'topics', not both",
            "6:12 source.kafka.start: unknown start position 'begining'; expected one of: committed, earliest, latest, timestamp",
            "7:19 source.kafka.poll_timeout: '100' has no unit; write e.g. '100s' or '100ms'",
            "8:36 source.kafka.metadata_columns[1]: unknown metadata column '_ofset'; did you mean '_offset'?",
            "8:44 source.kafka.metadata_columns[2]: metadata column '_partition' is listed twice",
            "9:29 source.kafka.on_offset_out_of_range: unknown out-of-range policy 'skip'; expected one of: fail, reset",
            "10:19 source.kafka.properties[\"group.id\"]: property 'group.id' is set by the connector: use 'group'",
            "10:32 source.kafka.properties[\"auto.offset.reset\"]: property 'auto.offset.reset' is set by the connector: use 'start' and 'on_offset_out_of_range'",
            "10:70 source.kafka.properties[\"linger.ms\"]: a property value is text, a number or true/false, got a list",
        ], lines);
        Assert.DoesNotContain(errors, e => e.Path == "source.schema._partition"); // the connector did not load
    }

    [Fact]
    public void A_declared_column_named_like_a_metadata_column_is_an_error_at_the_column()
    {
        SingleError("""
            name: k
            source:
              kafka: { brokers: b:1, topic: t, metadata_columns: [_offset] }
              schema: { id: int64, _offset: int64 }
            sink: { null: }
            """, "source.schema._offset", 4, 24, "also a kafka metadata column");
    }

    [Fact]
    public void Kafka_source_needs_a_topic_and_a_valid_topic_name()
    {
        SingleError("""
            name: k
            source:
              kafka: { brokers: b:1 }
              schema: { id: int64 }
            sink: { null: }
            """, "source.kafka.topic", 3, 10, "needs 'topic'");
        SingleError("""
            name: k
            source:
              kafka: { brokers: b:1, topic: "orders/eu" }
              schema: { id: int64 }
            sink: { null: }
            """, "source.kafka.topic", 3, 33, "invalid topic name 'orders/eu'");
        SingleError("""
            name: k
            source:
              kafka: { brokers: b:1, topics: [a, a] }
              schema: { id: int64 }
            sink: { null: }
            """, "source.kafka.topics[1]", 3, 38, "listed twice");
    }

    [Fact]
    public void Kafka_sink_loads_with_key_and_properties_and_rejects_reserved_ones()
    {
        var k = Assert.IsType<KafkaSinkSpec>(LoadValid("""
            name: k
            source: { generator: { kind: orders } }
            sink: { kafka: { brokers: b:1, topic: out, key: order_id, properties: { compression.type: lz4 } } }
            """).Sinks[0].Connector);
        Assert.Equal(("b:1", "out", "order_id"), (k.Brokers, k.Topic, k.Key));
        Assert.Equal("lz4", k.Properties["compression.type"]);
        Assert.Equal("kafka(out)", k.Describe());

        SingleError("""
            name: k
            source: { generator: { kind: orders } }
            sink: { kafka: { brokers: b:1, topic: out, properties: { transactional.id: x } } }
            """, "sink.kafka.properties[\"transactional.id\"]", 3, 58, "set by the connector");
        SingleError("""
            name: k
            source: { generator: { kind: orders } }
            sink: { kafka: { brokers: b:1 } }
            """, "sink.kafka.topic", 3, 16, "missing required key 'topic'");
    }

    [Fact]
    public void Dead_letters_go_to_a_file_or_a_kafka_topic_never_both()
    {
        const string Base = """
            name: k
            source: { generator: { kind: orders } }
            sink: { null: }

            """;
        var spec = LoadValid(Base + "dead_letter: { kafka: { brokers: b:1, topic: dlq, properties: { acks: all } } }\n");
        var target = Assert.IsType<KafkaDeadLetterSpec>(spec.DeadLetter!.Target);
        Assert.Equal(("b:1", "dlq"), (target.Brokers, target.Topic));
        Assert.Equal("all", target.Properties["acks"]);
        Assert.Null(spec.DeadLetter.File);

        Assert.Equal("x.jsonl", LoadValid(Base + "dead_letter: { file: x.jsonl }\n").DeadLetterFile);

        SingleError(Base + "dead_letter: { file: x.jsonl, kafka: { brokers: b:1, topic: dlq } }\n", "dead_letter.kafka", 4, 31, "one output");
        SingleError(Base + "dead_letter: {}\n", "dead_letter", 4, 14, "file or kafka");
        SingleError(Base + "dead_letter: { kafka: { topic: dlq } }\n", "dead_letter.kafka.brokers", 4, 23, "missing required key 'brokers'");
    }
}

/// <summary><c>format: avro</c> with <c>schema_registry:</c> in specs.</summary>
public sealed class KafkaAvroSpecTests
{
    [Fact]
    public void Avro_source_loads_without_a_declared_schema_and_keeps_the_registry_options()
    {
        var vars = new Dictionary<string, string> { ["REGISTRY_PASSWORD"] = "reg-Secret-9034" };
        var loaded = PipelineSpecLoader.LoadFromString("""
            name: k
            source:
              kafka:
                brokers: b:9092
                topic: orders
                format: avro
                metadata_columns: [_offset]
                schema_registry:
                  url: https://registry.example:8081
                  subject: orders-value
                  basic_auth_user: etl
                  basic_auth_password: ${REGISTRY_PASSWORD}
                  request_timeout: 5s
              event_time: { column: ts }
            sink: { null: }
            """, FileName, n => vars.GetValueOrDefault(n));
        Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
        var source = loaded.Spec!.Sources[0];
        var k = Assert.IsType<KafkaSourceSpec>(source.Connector);
        Assert.Equal(KafkaFormat.Avro, k.Format);
        Assert.Equal(new KafkaSchemaRegistrySpec("https://registry.example:8081", "orders-value", "etl", "reg-Secret-9034", TimeSpan.FromSeconds(5)), k.SchemaRegistry);
        // The columns come from the registry when the pipeline is planned: only the metadata column is known now,
        // and event time is checked then.
        Assert.Equal(["_offset"], source.Schema.Select(c => c.Name));
        Assert.Equal("ts", source.EventTime!.Column);
        Assert.Contains("reg-Secret-9034", k.SecretValues());
        Assert.Equal("password ***", loaded.Spec.Secrets.Redact("password reg-Secret-9034"));
    }

    [Fact]
    public void Avro_source_may_still_declare_its_columns()
    {
        var source = LoadValid("""
            name: k
            source:
              kafka: { brokers: b:9092, topic: orders, format: avro, schema_registry: { url: "http://r:8081" } }
              schema: { id: { type: int64, required: true }, ts: timestamp }
            sink: { null: }
            """).Sources[0];
        Assert.Equal(["id", "ts"], source.Schema.Select(c => c.Name));
        Assert.Null(Assert.IsType<KafkaSourceSpec>(source.Connector).SchemaRegistry!.Subject);
    }

    [Fact]
    public void Registry_problems_are_reported_at_their_keys()
    {
        var errors = Errors("""
            name: k
            source:
              kafka: { brokers: b:1, topic: t, format: avro }
            sink: { null: }
            """);
        AssertError(Assert.Single(errors, e => e.Path == "source.kafka.format"), "source.kafka.format", 3, 44, "needs schema_registry");
        SingleError("""
            name: k
            source:
              kafka: { brokers: b:1, topic: t, schema_registry: { url: "http://r:1" } }
              schema: { id: int64 }
            sink: { null: }
            """, "source.kafka.schema_registry", 3, 36, "only with format: avro");
        SingleError("""
            name: k
            source:
              kafka: { brokers: b:1, topic: t, format: avro, schema_registry: { url: "ftp://r:1" } }
            sink: { null: }
            """, "source.kafka.schema_registry.url", 3, 74, "http:// or https://");
        SingleError("""
            name: k
            source:
              kafka: { brokers: b:1, topic: t, format: avro, schema_registry: { url: "http://r:1", basic_auth_user: u } }
            sink: { null: }
            """, "source.kafka.schema_registry.basic_auth_password", 3, 88, "needs both");
        SingleError("""
            name: k
            source:
              kafka: { brokers: b:1, topic: t }
            sink: { null: }
            """, "source.schema", 3, 3, "needs a schema");
    }
}
