using System.Text.Json.Nodes;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Spec;
using static AiEtl.Engine.Tests.Spec.SpecTestSupport;

namespace AiEtl.Engine.Tests.Spec;

/// <summary>The loader and schemas/pipeline.schema.json agree: examples pass both, broken specs fail both.</summary>
public sealed class JsonSchemaAgreementTests
{
    public static TheoryData<string> Examples()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(RepoRoot, "examples"), "*.yaml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file));
        }
        return data;
    }

    [Fact]
    public void The_examples_folder_holds_the_three_documented_examples()
    {
        var names = Examples().Select(row => row.Data).ToArray();
        Assert.Contains("generator-to-console.yaml", names);
        Assert.Contains("orders-to-parquet.yaml", names);
        Assert.Contains("jsonl-to-jsonl.yaml", names);
        Assert.Contains("kafka-to-console.yaml", names);
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Example_passes_the_loader_and_the_json_schema(string file)
    {
        var path = Path.Combine(RepoRoot, "examples", file);
        var result = PipelineSpecLoader.Load(path);
        Assert.True(result.IsValid, string.Join("\n", result.FormatErrors()));

        var schema = EvaluateSchema(File.ReadAllText(path));
        Assert.True(schema.IsValid, Describe(schema));
    }

    [Fact]
    public void Orders_to_parquet_is_generator_to_chain_to_parquet()
    {
        var spec = PipelineSpecLoader.Load(Path.Combine(RepoRoot, "examples", "orders-to-parquet.yaml")).Spec!;
        Assert.IsType<GeneratorSourceSpec>(spec.Sources[0].Connector);
        Assert.IsType<OperatorChainSpec>(spec.Transform);
        Assert.Equal(FileFormat.Parquet, Assert.IsType<FileSinkSpec>(spec.Sinks[0].Connector).Format);
    }

    private const string Valid = """
        name: ok
        source:
          file: { path: in.jsonl }
          schema: { id: int64, ts: timestamp }
        sink: { null: {} }
        """;

    /// <summary>Specs that break a rule both the loader and the JSON Schema can express.</summary>
    public static TheoryData<string, string> Broken() => new()
    {
        { "missing name", "source: { generator: { kind: orders } }\nsink: { null: }\n" },
        { "unknown top-level key", Valid + "\nsorce: {}\n" },
        { "source and sources", Valid + "\nsources: { b: { generator: { kind: orders } } }\n" },
        { "neither source nor sources", "name: x\nsink: { null: }\n" },
        { "neither sink nor sinks", "name: x\nsource: { generator: { kind: orders } }\n" },
        { "unknown source connector", "name: x\nsource: { kinesis: { stream: t }, schema: { id: int64 } }\nsink: { null: }\n" },
        { "unknown sink connector", "name: x\nsource: { generator: { kind: orders } }\nsink: { bigquery: { table: t } }\n" },
        { "clickhouse sink without url", "name: x\nsource: { generator: { kind: orders } }\nsink: { clickhouse: { table: t } }\n" },
        { "clickhouse url with a query", "name: x\nsource: { generator: { kind: orders } }\nsink: { clickhouse: { url: \"http://h:8123/?user=x\", table: t } }\n" },
        { "clickhouse order_by without create_table", "name: x\nsource: { generator: { kind: orders } }\nsink: { clickhouse: { url: \"http://h:8123\", table: t, order_by: [order_id] } }\n" },
        { "clickhouse version_column without replacing engine", "name: x\nsource: { generator: { kind: orders } }\nsink: { clickhouse: { url: \"http://h:8123\", table: t, create_table: true, order_by: [order_id], version_column: ts } }\n" },
        { "clickhouse replacing engine without order_by", "name: x\nsource: { generator: { kind: orders } }\nsink: { clickhouse: { url: \"http://h:8123\", table: t, create_table: true, engine: replacing_merge_tree } }\n" },
        { "clickhouse unknown compression", "name: x\nsource: { generator: { kind: orders } }\nsink: { clickhouse: { url: \"http://h:8123\", table: t, compression: zstd } }\n" },
        { "clickhouse tiny batch_bytes", "name: x\nsource: { generator: { kind: orders } }\nsink: { clickhouse: { url: \"http://h:8123\", table: t, batch_bytes: 100 } }\n" },
        { "clickhouse unknown key", "name: x\nsource: { generator: { kind: orders } }\nsink: { clickhouse: { url: \"http://h:8123\", table: t, batch_size: 100 } }\n" },
        { "two sink connectors", "name: x\nsource: { generator: { kind: orders } }\nsink: { null: {}, console: {} }\n" },
        { "bad delivery", Valid + "\ndelivery: exactly_once\n" },
        { "duration without unit", Valid + "\ncheckpoint: { interval: 10 }\n" },
        { "duration with a fraction", Valid + "\ncheckpoint: { interval: 1.5s }\n" },
        { "generator with schema", "name: x\nsource: { generator: { kind: orders }, schema: { id: int64 } }\nsink: { null: }\n" },
        { "file source without schema", "name: x\nsource: { file: { path: a.jsonl } }\nsink: { null: }\n" },
        { "empty schema", "name: x\nsource: { file: { path: a.jsonl }, schema: {} }\nsink: { null: }\n" },
        { "unknown column type", "name: x\nsource: { file: { path: a.jsonl }, schema: { id: int46 } }\nsink: { null: }\n" },
        { "unknown generator kind", "name: x\nsource: { generator: { kind: trades } }\nsink: { null: }\n" },
        { "negative rows", "name: x\nsource: { generator: { kind: orders, rows: -1 } }\nsink: { null: }\n" },
        { "quoted number", "name: x\nsource: { generator: { kind: orders, rows: \"1000\" } }\nsink: { null: }\n" },
        { "zero parallelism", Valid + "\nparallelism: 0\n" },
        { "invalid pipeline name", "name: bad name\nsource: { generator: { kind: orders } }\nsink: { null: }\n" },
        { "invalid source name", "name: x\nsources: { my-src: { generator: { kind: orders } } }\ntransform: SELECT 1\nsink: { null: }\n" },
        { "two operators in one step", Valid + "\ntransform:\n  - filter: id > 1\n    select: [id]\n" },
        { "unknown operator", Valid + "\ntransform:\n  - where: id > 1\n" },
        { "empty select", Valid + "\ntransform:\n  - select: []\n" },
        { "empty sql", Valid + "\ntransform: \"\"\n" },
        { "bad csv delimiter", "name: x\nsource: { file: { path: a.csv, csv: { delimiter: \";;\" } }, schema: { id: int64 } }\nsink: { null: }\n" },
        { "unknown event_time key", "name: x\nsource: { generator: { kind: orders }, event_time: { column: ts, lateness: 5s } }\nsink: { null: }\n" },
        { "dead letter without file", Valid + "\ndead_letter: { topic: dlq }\n" },
        { "postgres_cdc without connection", "name: x\nsource: { postgres_cdc: { include: [public.t] } }\nsink: { null: }\n" },
        { "postgres_cdc with a bad slot name", "name: x\nsource: { postgres_cdc: { connection: \"Host=h\", slot: my-slot } }\nsink: { null: }\n" },
        { "postgres_cdc with an unknown key", "name: x\nsource: { postgres_cdc: { connection: \"Host=h\", tables: [t] } }\nsink: { null: }\n" },
        { "postgres_cdc with a bad schema change mode", "name: x\nsource: { postgres_cdc: { connection: \"Host=h\", on_schema_change: ignore } }\nsink: { null: }\n" },
        { "postgres sink without connection", Valid + "\nsinks: { pg: { postgres: { schema: s } } }\n" },
        { "bad time format", "name: x\nsource: { file: { path: a.jsonl }, schema: { ts: { type: timestamp, format: epoch_ns } } }\nsink: { null: }\n" },
        { "kafka source without schema", "name: x\nsource: { kafka: { brokers: b:9092, topic: t } }\nsink: { null: }\n" },
        { "kafka source without topic", "name: x\nsource: { kafka: { brokers: b:9092 }, schema: { id: int64 } }\nsink: { null: }\n" },
        { "kafka topic and topics", "name: x\nsource: { kafka: { brokers: b:9092, topic: t, topics: [u] }, schema: { id: int64 } }\nsink: { null: }\n" },
        { "kafka bad start", "name: x\nsource: { kafka: { brokers: b:9092, topic: t, start: beginning }, schema: { id: int64 } }\nsink: { null: }\n" },
        { "kafka unknown metadata column", "name: x\nsource: { kafka: { brokers: b:9092, topic: t, metadata_columns: [_ts] }, schema: { id: int64 } }\nsink: { null: }\n" },
        { "kafka reserved property", "name: x\nsource: { kafka: { brokers: b:9092, topic: t, properties: { enable.auto.commit: true } }, schema: { id: int64 } }\nsink: { null: }\n" },
        { "kafka invalid topic name", "name: x\nsource: { kafka: { brokers: b:9092, topic: \"a b\" }, schema: { id: int64 } }\nsink: { null: }\n" },
        { "kafka sink without topic", "name: x\nsource: { generator: { kind: orders } }\nsink: { kafka: { brokers: b:9092 } }\n" },
        { "kafka sink idempotence off", "name: x\nsource: { generator: { kind: orders } }\nsink: { kafka: { brokers: b:9092, topic: t, properties: { enable.idempotence: false } } }\n" },
        { "dead letter file and kafka", Valid + "\ndead_letter: { file: a.jsonl, kafka: { brokers: b:9092, topic: dlq } }\n" },
        { "kafka dead letter without brokers", Valid + "\ndead_letter: { kafka: { topic: dlq } }\n" },
        { "kafka avro without schema registry", "name: x\nsource: { kafka: { brokers: b:9092, topic: t, format: avro } }\nsink: { null: }\n" },
        { "kafka schema registry with json", "name: x\nsource: { kafka: { brokers: b:9092, topic: t, schema_registry: { url: \"http://r:8081\" } }, schema: { id: int64 } }\nsink: { null: }\n" },
        { "kafka schema registry without url", "name: x\nsource: { kafka: { brokers: b:9092, topic: t, format: avro, schema_registry: { subject: s } } }\nsink: { null: }\n" },
        { "kafka schema registry bad url", "name: x\nsource: { kafka: { brokers: b:9092, topic: t, format: avro, schema_registry: { url: \"r:8081\" } } }\nsink: { null: }\n" },
        { "kafka schema registry user without password", "name: x\nsource: { kafka: { brokers: b:9092, topic: t, format: avro, schema_registry: { url: \"http://r:8081\", basic_auth_user: u } } }\nsink: { null: }\n" },
    };

    [Fact]
    public void The_valid_base_of_the_broken_specs_passes_both()
    {
        Assert.True(Load(Valid).IsValid);
        Assert.True(EvaluateSchema(Valid).IsValid);
    }

    [Theory]
    [MemberData(nameof(Broken))]
    public void Broken_spec_fails_the_loader_and_the_json_schema(string why, string yaml)
    {
        var result = Load(yaml);
        Assert.False(result.IsValid, $"{why}: the loader accepted it");
        Assert.False(EvaluateSchema(yaml).IsValid, $"{why}: the JSON schema accepted it");
    }

    [Fact]
    public void Embedded_schema_is_the_repository_file()
    {
        var onDisk = File.ReadAllText(Path.Combine(RepoRoot, "schemas", "pipeline.schema.json"));
        Assert.Equal(onDisk, PipelineJsonSchema.Text);
        Assert.Equal("https://json-schema.org/draft/2020-12/schema", (string?)JsonNode.Parse(onDisk)!["$schema"]);
    }

    [Fact]
    public void Schema_names_the_same_keys_connectors_operators_and_types_as_the_loader()
    {
        var schema = JsonNode.Parse(PipelineJsonSchema.Text)!.AsObject();
        var defs = schema["$defs"]!.AsObject();
        static string[] Keys(JsonNode node) => node.AsObject().Select(p => p.Key).ToArray();
        static string[] Enum(JsonNode node) => node["enum"]!.AsArray().Select(v => (string)v!).ToArray();

        Assert.Equal(PipelineSpecLoader.TopLevelKeys.Order(), Keys(schema["properties"]!).Order());
        Assert.Equal(SpecConnectors.SourceKinds.Concat(["schema", "event_time"]).Order(), Keys(defs["source"]!["properties"]!).Order());
        Assert.Equal(SpecConnectors.SinkKinds.Order(), Keys(defs["sink"]!["properties"]!).Order());
        Assert.Equal(TransformOperators.Names.Order(), Keys(defs["transformStep"]!["properties"]!).Order());
        Assert.Equal(ColumnTypes.ByName.Keys.Order(), Enum(defs["columnType"]!).Order());
        Assert.Equal(SpecNames.Generators.Select(g => g.Key).Order(), Enum(defs["generatorSource"]!["properties"]!["kind"]!).Order());
        Assert.Equal(SpecNames.Delivery.Select(g => g.Key).Order(), Enum(schema["properties"]!["delivery"]!).Order());
        Assert.Equal(SpecNames.FileFormats.Select(g => g.Key).Order(), Enum(defs["fileFormat"]!).Order());
        Assert.Equal(KafkaMetadataColumns.All.Select(c => c.Name).Order(), Enum(defs["kafkaSource"]!["properties"]!["metadata_columns"]!["items"]!).Order());
        Assert.Equal(SpecConnectors.KafkaStarts.Select(g => g.Key).Order(), Enum(defs["kafkaSource"]!["properties"]!["start"]!).Order());
        Assert.Equal(SpecConnectors.KafkaFormats.Select(g => g.Key).Order(), Enum(defs["kafkaSource"]!["properties"]!["format"]!).Order());
        Assert.Equal(SpecConnectors.DeadLetterTargets.Select(t => t.Name).Append("file").Order(), Keys(schema["properties"]!["dead_letter"]!["properties"]!).Order());
        var ch = defs["clickhouseSink"]!["properties"]!;
        Assert.Equal(SpecNames.ClickHouseEngines.Select(g => g.Key).Order(), Enum(ch["engine"]!).Order());
        Assert.Equal(SpecNames.ClickHouseCompressions.Select(g => g.Key).Order(), Enum(ch["compression"]!).Order());
        Assert.Equal(SpecNames.ClickHouseTimestamps.Select(g => g.Key).Order(), Enum(ch["timestamp_precision"]!).Order());
    }

    [Fact]
    public void Yaml_to_json_follows_the_yaml_1_2_core_schema()
    {
        var json = YamlJson.Convert("a: 10\nb: \"10\"\nc: 1.5\nd: true\ne: ~\nf: 0x1F\ng: yes\nh: [1, x]\n")!;
        Assert.Equal("""{"a":10,"b":"10","c":1.5,"d":true,"e":null,"f":31,"g":"yes","h":[1,"x"]}""", json.ToJsonString());
    }
}
