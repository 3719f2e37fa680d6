using AiEtl.Engine.Spec;
using static AiEtl.Engine.Tests.Spec.SpecTestSupport;

namespace AiEtl.Engine.Tests.Spec;

/// <summary>Invalid specs: every problem is reported at once, with its path and the offending node's position.</summary>
public sealed class SpecValidationTests
{
    [Fact]
    public void Broken_spec_reports_every_error_with_its_path_line_and_column()
    {
        const string Yaml = """
            name: orders demo
            source:
              generator: { kind: orders, rows: -10, sed: 42 }
              schema: { id: int64 }
              event_time: { column: tss, max_out_of_orderness: 5 }
            transform:
              - filter: "amount > 10"
                select: [order_id]
              - selcet: [amount]
            sink:
              file: { path: out/orders.jsonl, fromat: jsonl }
            delivery: exactly_once
            parallelism: 0
            checkpoint: { interval: 10 }
            """;

        var result = Load(Yaml);

        Assert.Null(result.Spec);
        Assert.Equal(
            [
                "test.yaml:1:7: name: invalid pipeline name 'orders demo': use letters, digits, '_', '.' and '-', starting with a letter or digit (at most 128 characters)",
                "test.yaml:3:36: source.generator.rows: must be a positive integer, got -10",
                "test.yaml:3:41: source.generator.sed: unknown key 'sed' in source.generator; did you mean 'seed'?",
                "test.yaml:4:3: source.schema: the generator source has a fixed schema; remove 'schema'",
                "test.yaml:5:25: source.event_time.column: column 'tss' is not in the source schema; did you mean 'ts'?",
                "test.yaml:5:52: source.event_time.max_out_of_orderness: '5' has no unit; write e.g. '5s' or '5ms'",
                "test.yaml:8:5: transform[0].select: a transform step has one operator; found 'filter' and 'select' (start a new list item with '- select:')",
                "test.yaml:9:5: transform[1].selcet: unknown transform operator 'selcet'; did you mean 'select'?",
                "test.yaml:11:35: sink.file.fromat: unknown key 'fromat' in sink.file; did you mean 'format'?",
                "test.yaml:12:11: delivery: unknown delivery guarantee 'exactly_once'; did you mean 'exactly-once'?",
                "test.yaml:13:14: parallelism: must be a positive integer (at most 1024), got 0",
                "test.yaml:14:25: checkpoint.interval: '10' has no unit; write e.g. '10s' or '10ms'",
            ],
            result.FormatErrors());
    }

    [Fact]
    public void Yaml_syntax_error_is_reported_at_its_position()
    {
        var e = Assert.Single(Errors("""
            name: x
            source:
              generator: { kind: orders
            sink: { null: {} }
            """));
        Assert.Equal("", e.Path);
        Assert.Equal((3, 14), (e.Line, e.Column));
        Assert.Contains("'{' is never closed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Yaml_scanner_error_keeps_the_parser_position()
    {
        var e = Assert.Single(Errors("name: x\nsource: a: b\n"));
        Assert.Equal((2, 10), (e.Line, e.Column));
        Assert.StartsWith("YAML syntax error:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tab_indentation_is_reported_on_its_own_line()
    {
        var e = Assert.Single(Errors("name: x\nsource:\n\tgenerator: { kind: orders }\n"));
        Assert.Equal((3, 1), (e.Line, e.Column));
        Assert.Contains("tabs", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_document_and_non_mapping_root_are_errors()
    {
        AssertError(Assert.Single(Errors("")), "", 1, 1, "the spec is empty");
        AssertError(Assert.Single(Errors("# only a comment\n")), "", 1, 1, "the spec is empty");
        AssertError(Assert.Single(Errors("- name: x\n")), "", 1, 1, "a pipeline spec must be a mapping, got a list");
    }

    [Fact]
    public void A_second_yaml_document_is_an_error()
    {
        var errors = Errors("name: a\nsource: { generator: { kind: orders } }\nsink: { null: }\n---\nname: b\n");
        AssertError(Assert.Single(errors), "", 4, 1, "one YAML document");
    }

    [Fact]
    public void Unknown_top_level_key_gets_a_did_you_mean_hint()
    {
        SingleError("""
            name: x
            source: { generator: { kind: orders } }
            sink: { null: }
            delivry: at-least-once
            """, "delivry", 4, 1, "unknown key 'delivry' in the pipeline; did you mean 'delivery'?");
    }

    [Fact]
    public void Unknown_key_far_from_any_known_one_lists_the_known_keys()
    {
        SingleError("""
            name: x
            source: { generator: { kind: orders, xyzzy: 1 } }
            sink: { null: }
            """, "source.generator.xyzzy", 2, 38, "expected one of: kind, rows, rate, seed, batch_size, start_time");
    }

    [Fact]
    public void Missing_required_keys_point_at_the_mapping_that_lacks_them()
    {
        var errors = Errors("""
            description: nothing else
            """);
        Assert.Equal(3, errors.Count);
        AssertError(errors[0], "name", 1, 1, "missing required key 'name'");
        AssertError(errors[1], "source", 1, 1, "a pipeline needs a 'source' (or a map of named 'sources')");
        AssertError(errors[2], "sink", 1, 1, "a pipeline needs a 'sink' (or a map of named 'sinks')");
    }

    [Fact]
    public void Missing_file_path_and_generator_kind_are_reported()
    {
        var errors = Errors("""
            name: x
            sources:
              a: { generator: { rows: 5 } }
              b: { file: { format: csv }, schema: { id: int64 } }
            transform: SELECT * FROM a
            sink: { null: }
            """);
        Assert.Equal(2, errors.Count);
        AssertError(errors[0], "sources.a.generator.kind", 3, 19, "missing required key 'kind'");
        AssertError(errors[1], "sources.b.file.path", 4, 14, "missing required key 'path'");
    }

    [Fact]
    public void Wrong_scalar_types_are_reported_with_what_was_found()
    {
        var errors = Errors("""
            name: 2024
            source: { generator: { kind: orders, rows: many, seed: "42" } }
            sink: { console: { max_rows: 1.5 } }
            parallelism: [2]
            """);
        Assert.Equal(5, errors.Count);
        AssertError(errors[0], "name", 1, 7, "expected a string, got an integer (2024) (quote it: \"2024\")");
        AssertError(errors[1], "source.generator.rows", 2, 44, "expected an integer, got a string (\"many\")");
        AssertError(errors[2], "source.generator.seed", 2, 56, "expected an integer, got a string (\"42\")");
        AssertError(errors[3], "sink.console.max_rows", 3, 30, "expected an integer, got a number (1.5)");
        AssertError(errors[4], "parallelism", 4, 14, "expected an integer, got a list");
    }

    [Fact]
    public void Source_and_sources_together_are_an_error()
    {
        SingleError("""
            name: x
            source: { generator: { kind: orders } }
            sources:
              other: { generator: { kind: clickstream } }
            transform: SELECT * FROM source
            sink: { null: }
            """, "sources", 3, 1, "use either 'source' or 'sources', not both");
    }

    [Fact]
    public void Sink_and_sinks_together_are_an_error()
    {
        SingleError("""
            name: x
            source: { generator: { kind: orders } }
            sink: { null: }
            sinks: { a: { null: } }
            """, "sinks", 4, 1, "use either 'sink' or 'sinks', not both");
    }

    [Fact]
    public void Unknown_source_connector_suggests_the_closest_kind()
    {
        SingleError("""
            name: x
            source:
              genertor: { kind: orders }
            sink: { null: }
            """, "source.genertor", 3, 3, "unknown source connector or key 'genertor'; did you mean 'generator'?");
    }

    [Fact]
    public void Connector_kind_not_registered_yet_lists_the_known_ones()
    {
        SingleError("""
            name: x
            source:
              kinesis: { stream: orders }
              schema: { id: int64 }
            sink: { null: }
            """, "source.kinesis", 3, 3, "expected one of: generator, file, kafka, postgres_cdc, nexmark, schema, event_time");
    }

    [Fact]
    public void Source_without_a_connector_and_sink_with_two_are_errors()
    {
        var errors = Errors("""
            name: x
            source:
              schema: { id: int64 }
            sink:
              console: {}
              null: {}
            """);
        Assert.Equal(2, errors.Count);
        AssertError(errors[0], "source", 3, 3, "a source needs a connector: one of generator, file");
        AssertError(errors[1], "sink.null", 6, 3, "a sink has one connector; found 'console' and 'null'");
    }

    [Fact]
    public void Connector_written_as_plain_text_says_how_to_write_it()
    {
        SingleError("""
            name: x
            source: { generator: { kind: orders } }
            sink: console
            """, "sink", 3, 7, "a connector is a key with its options; write 'console: { … }' below 'sink'");
    }

    [Fact]
    public void Unknown_sink_connector_suggests_the_closest_kind()
    {
        SingleError("""
            name: x
            source: { generator: { kind: orders } }
            sink: { consol: {} }
            """, "sink.consol", 3, 9, "unknown sink connector 'consol'; did you mean 'console'?");
    }

    [Fact]
    public void Bad_durations_are_reported_zero_only_where_a_positive_one_is_needed()
    {
        var errors = Errors("""
            name: x
            source:
              generator: { kind: orders }
              event_time: { column: ts, max_out_of_orderness: 5sec, idle_timeout: 0s, allowed_lateness: 0s }
            sink: { null: }
            checkpoint: { interval: 0ms }
            """);
        Assert.Equal(3, errors.Count);
        AssertError(errors[0], "source.event_time.max_out_of_orderness", 4, 51, "'5sec' is not a duration");
        AssertError(errors[1], "source.event_time.idle_timeout", 4, 71, "must be a positive duration, got 0s");
        AssertError(errors[2], "checkpoint.interval", 6, 25, "must be a positive duration, got 0ms");
    }

    [Fact]
    public void Unknown_types_and_enum_values_are_reported_with_hints()
    {
        var errors = Errors("""
            name: x
            source:
              file: { path: in.data, format: jsonn }
              schema: { id: int46, ts: { type: timestamp, format: epoch_millis } }
            sink: { console: { format: tabel } }
            """);
        Assert.Equal(4, errors.Count);
        AssertError(errors[0], "source.file.format", 3, 34, "unknown file format 'jsonn'; did you mean 'jsonl'?");
        AssertError(errors[1], "source.schema.id", 4, 17, "unknown type 'int46'; did you mean 'int64'?");
        AssertError(errors[2], "source.schema.ts.format", 4, 55, "unknown time format 'epoch_millis'");
        AssertError(errors[3], "sink.console.format", 5, 28, "unknown console format 'tabel'; did you mean 'table'?");
    }

    [Fact]
    public void Event_time_column_must_exist_and_be_a_timestamp()
    {
        var errors = Errors("""
            name: x
            sources:
              a:
                file: { path: a.jsonl }
                schema: { id: int64, created: timestamp }
                event_time: { column: create }
              b:
                file: { path: b.jsonl }
                schema: { id: int64, created: string }
                event_time: { column: created }
            transform: SELECT * FROM a
            sink: { null: }
            """);
        Assert.Equal(2, errors.Count);
        AssertError(errors[0], "sources.a.event_time.column", 6, 27, "column 'create' is not in the source schema; did you mean 'created'?");
        AssertError(errors[1], "sources.b.event_time.column", 10, 27, "the event-time column must be a timestamp; 'created' is string");
    }

    [Fact]
    public void Event_time_is_checked_even_when_another_column_is_invalid()
    {
        var errors = Errors("""
            name: x
            source:
              file: { path: a.jsonl }
              schema: { id: int46, ts: timestamp }
              event_time: { column: tz }
            sink: { null: }
            """);
        Assert.Equal(2, errors.Count);
        AssertError(errors[0], "source.schema.id", 4, 17, "unknown type 'int46'");
        AssertError(errors[1], "source.event_time.column", 5, 25, "did you mean 'ts'?");
    }

    [Fact]
    public void Duplicate_column_names_are_reported_with_the_first_position()
    {
        SingleError("""
            name: x
            source:
              file: { path: a.jsonl }
              schema:
                id: int64
                amount: float64
                id: string
            sink: { null: }
            """, "source.schema.id", 7, 5, "duplicate column 'id' (first at 5:5)");
    }

    [Fact]
    public void Duplicate_top_level_key_is_reported()
    {
        SingleError("""
            name: x
            source: { generator: { kind: orders } }
            sink: { null: }
            name: y
            """, "name", 4, 1, "duplicate key 'name' (first at 1:1)");
    }

    [Fact]
    public void Invalid_pipeline_source_and_sink_names_are_reported()
    {
        var errors = Errors("""
            name: -leading-dash
            sources:
              1st: { generator: { kind: orders } }
            transform: SELECT * FROM "1st"
            sinks:
              "out put": { null: }
            """);
        Assert.Equal(3, errors.Count);
        AssertError(errors[0], "name", 1, 7, "invalid pipeline name '-leading-dash'");
        AssertError(errors[1], "sources.1st", 3, 3, "invalid source name '1st'");
        AssertError(errors[2], "sinks[\"out put\"]", 6, 3, "invalid sink name 'out put'");
    }

    [Fact]
    public void File_sources_need_a_non_empty_schema_and_generators_reject_one()
    {
        var errors = Errors("""
            name: x
            sources:
              a: { file: { path: a.jsonl } }
              b: { file: { path: b.jsonl }, schema: {} }
              c: { generator: { kind: orders }, schema: { id: int64 } }
            transform: SELECT * FROM a
            sink: { null: }
            """);
        Assert.Equal(3, errors.Count);
        AssertError(errors[0], "sources.a.schema", 3, 6, "a file source needs a schema");
        AssertError(errors[1], "sources.b.schema", 4, 41, "the schema has no columns");
        AssertError(errors[2], "sources.c.schema", 5, 37, "the generator source has a fixed schema; remove 'schema'");
    }

    [Fact]
    public void Zero_and_negative_numbers_are_rejected_where_positive_ones_are_needed()
    {
        var errors = Errors("""
            name: x
            sources:
              a: { generator: { kind: orders, rows: 0, rate: -1, batch_size: 0 } }
              b: { file: { path: b.csv, batch_size: 2000000 }, schema: { id: int64 } }
            transform: SELECT * FROM a
            sink: { console: { max_rows: -20 } }
            checkpoint: { keep: 0 }
            """);
        Assert.Equal(6, errors.Count);
        AssertError(errors[0], "sources.a.generator.rows", 3, 41, "must be a positive integer, got 0");
        AssertError(errors[1], "sources.a.generator.rate", 3, 50, "must not be negative, got -1");
        AssertError(errors[2], "sources.a.generator.batch_size", 3, 66, "must be a positive integer (at most 1048576), got 0");
        AssertError(errors[3], "sources.b.file.batch_size", 4, 41, "must be at most 1048576, got 2000000");
        AssertError(errors[4], "sink.console.max_rows", 6, 30, "must be a positive integer, got -20");
        AssertError(errors[5], "checkpoint.keep", 7, 21, "must be a positive integer, got 0");
    }

    [Fact]
    public void File_format_that_cannot_be_inferred_and_misplaced_csv_options_are_errors()
    {
        var errors = Errors("""
            name: x
            source:
              file: { path: data/orders.jsonl, csv: { delimiter: ";;" } }
              schema: { id: int64 }
            sink: { file: { path: out/orders } }
            """);
        Assert.Equal(3, errors.Count);
        AssertError(errors[0], "source.file.csv", 3, 36, "csv options apply only to csv files (this source reads jsonl)");
        AssertError(errors[1], "source.file.csv.delimiter", 3, 54, "the delimiter must be one character");
        AssertError(errors[2], "sink.file.path", 5, 23, "cannot tell the file format from 'out/orders'; add format: jsonl | csv | parquet");
    }

    [Fact]
    public void Time_format_only_applies_to_timestamp_columns()
    {
        SingleError("""
            name: x
            source:
              file: { path: a.jsonl }
              schema: { ts: { type: int64, format: epoch_ms } }
            sink: { null: }
            """, "source.schema.ts.format", 4, 40, "a time format applies to timestamp columns; 'ts' is int64");
    }

    [Fact]
    public void Transform_chain_errors_carry_indexed_paths()
    {
        var errors = Errors("""
            name: x
            source: { generator: { kind: orders } }
            transform:
              - filter: ""
              - select: [order_id, 42, ""]
              - rename: { order_id: id, qty: id }
              - cast: { amount: decimal }
              - "just text"
            sink: { null: }
            """);
        Assert.Equal(6, errors.Count);
        AssertError(errors[0], "transform[0].filter", 4, 13, "must not be empty");
        AssertError(errors[1], "transform[1].select[1]", 5, 24, "expected a string, got an integer (42)");
        AssertError(errors[2], "transform[1].select[2]", 5, 28, "must not be empty");
        AssertError(errors[3], "transform[2].rename.qty", 6, 34, "two columns renamed to 'id' (first at 6:25)");
        AssertError(errors[4], "transform[3].cast.amount", 7, 21, "unknown type 'decimal'");
        AssertError(errors[5], "transform[4]", 8, 5, "a transform step is a one-key mapping");
    }

    [Fact]
    public void Transform_written_as_a_mapping_or_empty_is_an_error()
    {
        SingleError("""
            name: x
            source: { generator: { kind: orders } }
            transform: { filter: "qty > 1" }
            sink: { null: }
            """, "transform", 3, 12, "write each operator as a list item");
        SingleError("""
            name: x
            source: { generator: { kind: orders } }
            transform: []
            sink: { null: }
            """, "transform", 3, 12, "the operator chain is empty");
        SingleError("""
            name: x
            source: { generator: { kind: orders } }
            transform: "  "
            sink: { null: }
            """, "transform", 3, 12, "the SQL transform is empty");
    }

    [Fact]
    public void Several_sources_need_a_sql_transform()
    {
        const string Sources = """
            name: x
            sources:
              a: { generator: { kind: orders } }
              b: { generator: { kind: clickstream } }

            """;
        SingleError(Sources + "sink: { null: }\n", "transform", 2, 1, "with several sources a SQL transform must say how they combine");
        SingleError(Sources + "transform:\n  - filter: qty > 1\nsink: { null: }\n", "transform", 6, 3, "an operator chain reads a single source");
    }

    [Fact]
    public void Unknown_alias_is_reported_at_the_alias()
    {
        var errors = Errors("""
            name: x
            source: *nowhere
            sink: { null: }
            """);
        AssertError(errors[0], "", 2, 9, "unknown anchor '*nowhere'");
    }

    [Fact]
    public void Keys_that_are_not_plain_names_are_quoted_in_paths()
    {
        SingleError("""
            name: x
            source:
              file: { path: a.jsonl }
              schema: { "order.id": int46 }
            sink: { null: }
            """, "source.schema[\"order.id\"]", 4, 25, "unknown type 'int46'");
    }

    [Fact]
    public void Errors_format_as_file_line_column_path_message()
    {
        var result = Load("name: x\nsource:\n  file: { path: 5 }\n  schema: { id: int64 }\nsink: { null: }\n");
        Assert.Equal(["test.yaml:3:17: source.file.path: expected a string, got an integer (5) (quote it: \"5\")"], result.FormatErrors());
        Assert.Equal("f.yaml:1:2: message", new SpecError("", 1, 2, "message").Format("f.yaml"));
    }

    [Fact]
    public void Did_you_mean_uses_edit_distance_with_transpositions()
    {
        Assert.Equal(1, Suggestions.Distance("sorce", "source"));
        Assert.Equal(1, Suggestions.Distance("soucre", "source"));
        Assert.Equal("max_out_of_orderness", Suggestions.Closest("max_out_of_order", ["column", "max_out_of_orderness", "idle_timeout"]));
        Assert.Null(Suggestions.Closest("banana", ["name", "source", "sink"]));
    }
}
