using AiEtl.Engine.Columns;
using AiEtl.Engine.Spec;
using static AiEtl.Engine.Tests.Spec.SpecTestSupport;

namespace AiEtl.Engine.Tests.Spec;

/// <summary>Valid specs load into the model with every value in place.</summary>
public sealed class PipelineSpecLoaderTests
{
    [Fact]
    public void Generator_source_with_operator_chain_loads_every_value()
    {
        var spec = LoadValid("""
            name: orders-demo
            description: free text
            source:
              generator: { kind: orders, rows: 1000000, rate: 0, seed: 42, batch_size: 8192, start_time: "2026-01-01T00:00:00Z" }
              event_time: { column: ts, max_out_of_orderness: 5s, idle_timeout: 30s, allowed_lateness: 0s }
            transform:
              - filter: "status < 5 AND amount > 10"
              - select: ["order_id", "amount * qty AS total", "upper(country) AS country"]
              - rename: { total: order_total }
              - cast: { order_total: double }
            sink:
              file: { path: out/orders.jsonl, format: jsonl }
            dead_letter: { file: ./dead-letters.jsonl }
            delivery: exactly-once
            checkpoint: { interval: 10s, dir: ./state, keep: 3 }
            parallelism: 2
            """);

        Assert.Equal("orders-demo", spec.Name);
        Assert.Equal("free text", spec.Description);
        var source = Assert.Single(spec.Sources);
        Assert.Equal(PipelineSpec.SingleSourceName, source.Name);
        Assert.Equal(new GeneratorSourceSpec(GeneratorKind.Orders, 1_000_000, 0, 42, 8192, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)), source.Connector);
        Assert.Equal(GeneratorSchemas.Orders, source.Schema);
        Assert.Equal(new EventTimeSpec("ts", TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.Zero), source.EventTime);

        var chain = Assert.IsType<OperatorChainSpec>(spec.Transform);
        Assert.Equal(4, chain.StepCount);
        Assert.Equal(new FilterStep("status < 5 AND amount > 10"), chain.Steps[0]);
        Assert.Equal(["order_id", "amount * qty AS total", "upper(country) AS country"], Assert.IsType<SelectStep>(chain.Steps[1]).Expressions);
        Assert.Equal([new ColumnRename("total", "order_total")], Assert.IsType<RenameStep>(chain.Steps[2]).Renames);
        Assert.Equal([new ColumnCast("order_total", ColumnKind.Float64)], Assert.IsType<CastStep>(chain.Steps[3]).Casts);

        var sink = Assert.Single(spec.Sinks);
        Assert.Equal(new SinkSpec("sink", new FileSinkSpec("out/orders.jsonl", FileFormat.Jsonl)), sink);
        Assert.Equal("./dead-letters.jsonl", spec.DeadLetterFile);
        Assert.Equal(DeliveryGuarantee.ExactlyOnce, spec.EffectiveDelivery);
        Assert.Equal(new CheckpointSpec(TimeSpan.FromSeconds(10), "./state", 3), spec.Checkpoint);
        Assert.Equal(2, spec.EffectiveParallelism);
    }

    [Fact]
    public void Unset_settings_stay_null_and_defaults_come_from_the_effective_properties()
    {
        var spec = LoadValid("""
            name: minimal
            source:
              generator: { kind: clickstream }
            sink:
              null: {}
            """);

        Assert.Null(spec.Description);
        Assert.Null(spec.Transform);
        Assert.Null(spec.Delivery);
        Assert.Null(spec.Checkpoint);
        Assert.Null(spec.Parallelism);
        Assert.Null(spec.DeadLetter);
        Assert.Equal(DeliveryGuarantee.AtLeastOnce, spec.EffectiveDelivery);
        Assert.Equal(Environment.ProcessorCount, spec.EffectiveParallelism);
        Assert.Equal("dead-letters/minimal.jsonl", spec.DeadLetterFile);
        Assert.Equal(new GeneratorSourceSpec(GeneratorKind.Clickstream, null, null, null, null, null), spec.Sources[0].Connector);
        Assert.IsType<NullSinkSpec>(spec.Sinks[0].Connector);
    }

    [Fact]
    public void Named_file_sources_with_sql_keep_schema_order_types_and_formats()
    {
        var spec = LoadValid("""
            name: two-files
            sources:
              orders:
                file: { path: data/orders/*.ndjson }
                schema:
                  order_id: { type: bigint, required: true }
                  amount: double
                  ts: { type: timestamp, format: epoch_ms }
                event_time: { column: ts }
              customers:
                file: { path: data/customers.csv, csv: { header: false, delimiter: ";" } }
                schema: { id: int, name: text, signup: date }
            transform: |
              SELECT o.order_id, c.name FROM orders o JOIN customers c ON o.order_id = c.id
            sinks:
              out: { file: { path: out/joined.parquet } }
              screen: { console: }
            """);

        Assert.Equal(["orders", "customers"], spec.Sources.Select(s => s.Name));
        var orders = spec.FindSource("orders")!;
        Assert.Equal(new FileSourceSpec("data/orders/*.ndjson", FileFormat.Jsonl, null, null), orders.Connector);
        Assert.Equal(
            [new ColumnSpec("order_id", ColumnKind.Int64, Required: true), new ColumnSpec("amount", ColumnKind.Float64), new ColumnSpec("ts", ColumnKind.Timestamp, Format: TimeFormat.EpochMs)],
            orders.Schema);
        Assert.Equal(new EventTimeSpec("ts", null, null, null), orders.EventTime);
        var customers = spec.FindSource("customers")!;
        Assert.Equal(new FileSourceSpec("data/customers.csv", FileFormat.Csv, null, new CsvOptionsSpec(false, ';')), customers.Connector);
        Assert.Equal([ColumnKind.Int32, ColumnKind.String, ColumnKind.Date], customers.Schema.Select(c => c.Type));

        var sql = Assert.IsType<SqlTransformSpec>(spec.Transform);
        Assert.StartsWith("SELECT o.order_id", sql.Sql, StringComparison.Ordinal);
        Assert.Equal(["out", "screen"], spec.Sinks.Select(s => s.Name));
        Assert.Equal(new FileSinkSpec("out/joined.parquet", FileFormat.Parquet), spec.Sinks[0].Connector);
        Assert.Equal(new ConsoleSinkSpec(null, null), spec.Sinks[1].Connector);
    }

    [Theory]
    [InlineData("data/x.jsonl", FileFormat.Jsonl)]
    [InlineData("data/x.NDJSON", FileFormat.Jsonl)]
    [InlineData("data/*.json", FileFormat.Jsonl)]
    [InlineData("data/x.csv", FileFormat.Csv)]
    [InlineData("data/part-*.parquet", FileFormat.Parquet)]
    public void File_format_defaults_from_the_path_extension(string path, FileFormat expected)
    {
        var spec = LoadValid($$"""
            name: f
            source:
              file: { path: "{{path}}" }
              schema: { id: int64 }
            sink: { console: { format: jsonl, max_rows: 5 } }
            """);
        Assert.Equal(expected, ((FileSourceSpec)spec.Sources[0].Connector).Format);
    }

    [Fact]
    public void Declared_format_wins_over_the_extension()
    {
        var spec = LoadValid("""
            name: f
            source:
              file: { path: data/x.txt, format: csv }
              schema: { id: int64 }
            sink: { file: { path: out/x.dat, format: parquet } }
            """);
        Assert.Equal(FileFormat.Csv, ((FileSourceSpec)spec.Sources[0].Connector).Format);
        Assert.Equal(FileFormat.Parquet, ((FileSinkSpec)spec.Sinks[0].Connector).Format);
    }

    [Fact]
    public void Yaml_anchors_and_aliases_are_resolved()
    {
        var spec = LoadValid("""
            name: anchors
            sources:
              a: &src
                file: { path: a.jsonl }
                schema: { id: int64 }
              b: *src
            transform: SELECT id FROM a UNION ALL SELECT id FROM b
            sink: { null: }
            """);
        Assert.Equal(spec.Sources[0].Schema, spec.Sources[1].Schema);
        Assert.Equal("b", spec.Sources[1].Name);
    }

    [Fact]
    public void Load_reads_a_file_and_reports_a_missing_one_without_throwing()
    {
        var path = Path.Combine(Path.GetTempPath(), $"aietl-spec-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "name: on-disk\nsource: { generator: { kind: orders } }\nsink: { null: {} }\n");
        try
        {
            var ok = PipelineSpecLoader.Load(path);
            Assert.True(ok.IsValid);
            Assert.Equal(path, ok.FileName);
        }
        finally
        {
            File.Delete(path);
        }

        var missing = PipelineSpecLoader.Load(path);
        var e = Assert.Single(missing.Errors);
        Assert.Equal((0, 0), (e.Line, e.Column));
        Assert.Equal($"{path}: cannot read the spec: file not found", missing.FormatErrors().Single());
    }

    [Theory]
    [InlineData("250ms", 0, 0, 0, 250)]
    [InlineData("10s", 0, 0, 10, 0)]
    [InlineData("5m", 0, 5, 0, 0)]
    [InlineData("1h", 1, 0, 0, 0)]
    [InlineData("1m30s", 0, 1, 30, 0)]
    [InlineData("1h2m3s4ms", 1, 2, 3, 4)]
    [InlineData("0s", 0, 0, 0, 0)]
    public void Durations_parse_and_format_round_trip(string text, int h, int m, int s, int ms)
    {
        Assert.True(SpecDuration.TryParse(text, out var d, out var error), error);
        Assert.Equal(new TimeSpan(0, h, m, s, ms), d);
        Assert.Equal(text, SpecDuration.Format(d));
    }

    [Fact]
    public void A_day_is_a_duration_unit()
    {
        Assert.True(SpecDuration.TryParse("1d", out var d, out _));
        Assert.Equal(TimeSpan.FromDays(1), d);
    }

    [Theory]
    [InlineData("10")]
    [InlineData("1.5s")]
    [InlineData("30s1m")]
    [InlineData("5 s")]
    [InlineData("-5s")]
    [InlineData("1w")]
    [InlineData("")]
    [InlineData("99999999999999999d")]
    public void Malformed_durations_are_rejected_with_a_reason(string text)
    {
        Assert.False(SpecDuration.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Clickhouse_sink_loads_every_option()
    {
        var spec = LoadValid("""
            name: orders-to-clickhouse
            source: { generator: { kind: orders, rows: 1000 } }
            sink:
              clickhouse:
                url: http://localhost:8123
                database: analytics
                table: orders
                user: loader
                password: ""
                create_table: true
                engine: replacing_merge_tree
                order_by: [customer_id, order_id]
                partition_by: toYYYYMM(ts)
                version_column: order_id
                timestamp_precision: seconds
                batch_rows: 100000
                batch_bytes: 16777216
                flush_interval: 2s
                compression: gzip
                max_retry_time: 10m
                request_timeout: 30s
            delivery: exactly-once
            """);
        var sink = Assert.IsType<ClickHouseSinkSpec>(Assert.Single(spec.Sinks).Connector);
        Assert.Equal(new ClickHouseSinkSpec("http://localhost:8123", "orders", "analytics", "loader", "", true, ClickHouseEngineSpec.ReplacingMergeTree,
            sink.OrderBy, "toYYYYMM(ts)", "order_id", ClickHouseTimestampSpec.Seconds, 100_000, 16_777_216, TimeSpan.FromSeconds(2),
            ClickHouseCompressionSpec.Gzip, TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(30)), sink);
        Assert.Equal(["customer_id", "order_id"], sink.OrderBy);
        Assert.Equal("clickhouse(analytics.orders)", sink.Describe());
        Assert.True(EvaluateSchema("""
            name: x
            source: { generator: { kind: orders } }
            sink: { clickhouse: { url: "http://localhost:8123", table: t, create_table: true, engine: replacing_merge_tree, order_by: [order_id], version_column: ts } }
            """).IsValid);
    }

    [Fact]
    public void Clickhouse_sink_needs_url_and_table_and_leaves_unset_options_null()
    {
        var sink = Assert.IsType<ClickHouseSinkSpec>(LoadValid("""
            name: x
            source: { generator: { kind: orders } }
            sink: { clickhouse: { url: "http://localhost:8123", table: t } }
            """).Sinks[0].Connector);
        Assert.Equal(new ClickHouseSinkSpec("http://localhost:8123", "t"), sink);

        var errors = Errors("name: x\nsource: { generator: { kind: orders } }\nsink: { clickhouse: { database: d } }\n");
        Assert.Contains(errors, e => e.Path == "sink.clickhouse.url" && e.Message.Contains("missing required key", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "sink.clickhouse.table" && e.Message.Contains("missing required key", StringComparison.Ordinal));
    }

    [Fact]
    public void Clickhouse_table_options_without_create_table_are_errors_at_their_key()
    {
        var e = Assert.Single(Errors("name: x\nsource: { generator: { kind: orders } }\nsink: { clickhouse: { url: \"http://h:8123\", table: t, order_by: [order_id] } }\n"));
        Assert.Equal("sink.clickhouse.order_by", e.Path);
        Assert.Contains("only with create_table: true", e.Message, StringComparison.Ordinal);

        e = Assert.Single(Errors("name: x\nsource: { generator: { kind: orders } }\nsink: { clickhouse: { url: \"ftp://h\", table: t } }\n"));
        Assert.Equal("sink.clickhouse.url", e.Path);
    }
}
