using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Spec;

namespace AiEtl.Integration.Tests.ClickHouse;

/// <summary>Parts of the sink that need no server: type parsing, version gates, option validation, spec mapping.</summary>
public sealed class ClickHouseTypeTests
{
    [Theory]
    [InlineData("Int64", "Int64")]
    [InlineData("Nullable(DateTime64(6, 'UTC'))", "Nullable")]
    [InlineData("LowCardinality(Nullable(String))", "LowCardinality")]
    [InlineData("Array(Nullable(Int64))", "Array")]
    [InlineData("Decimal(18, 4)", "Decimal")]
    [InlineData("Decimal128(10)", "Decimal")]
    [InlineData("FixedString(16)", "FixedString")]
    [InlineData("DateTime('Europe/Berlin')", "DateTime")]
    [InlineData("Enum8('a' = 1, 'b)' = 2)", "Other")]
    [InlineData("Map(String, UInt64)", "Other")]
    public void Types_parse_and_keep_their_text(string text, string kind)
    {
        var t = ChType.Parse(text);
        Assert.Equal(kind, t.Kind.ToString());
        Assert.Equal(text, t.Text);
    }

    [Fact]
    public void Parsed_types_expose_their_arguments()
    {
        var t = ChType.Parse("Nullable(DateTime64(3, 'UTC'))");
        Assert.True(t.IsNullable);
        Assert.Equal(ChKind.DateTime64, t.Base.Kind);
        Assert.Equal(3, t.Base.Scale);
        Assert.Equal("UTC", t.Base.TimeZone);
        var d = ChType.Parse("Decimal128(10)");
        Assert.Equal((38, 10), (d.Precision, d.Scale));
        Assert.True(ChType.Parse("LowCardinality(Nullable(String))").IsNullable);
        Assert.Throws<FormatException>(() => ChType.Parse("Nullable(Int64"));
    }

    [Fact]
    public void Versions_gate_features()
    {
        var old = ServerVersion.Parse("18.16.1\n");
        Assert.False(old.HasDateTime64);
        Assert.False(old.HasLightweightDelete);
        Assert.True(old.LowCardinalityIsExperimental);
        var current = ServerVersion.Parse("24.8.4.13");
        Assert.True(current.HasDateTime64 && current.HasDate32 && current.HasMutationsSync && current.HasLightweightDelete);
        Assert.Throws<FormatException>(() => ServerVersion.Parse("unknown"));
    }

    [Fact]
    public void A_created_exactly_once_table_dictionary_encodes_the_writer_column_where_the_server_allows_it()
    {
        var schema = new Apache.Arrow.Schema.Builder().Field(ColumnTypes.Field("id", ColumnKind.Int64, nullable: false)).Build();
        var options = new ClickHouseSinkOptions { Url = "http://localhost:8123", Table = "t", OrderBy = ["id"], CreateTable = true };
        var old = TablePlan.CreateTableSql(schema, options, ServerVersion.Parse("18.16.1"), exactlyOnce: true);
        Assert.Contains("`_aietl_writer` String, `_aietl_checkpoint` UInt64", old, StringComparison.Ordinal);
        var current = TablePlan.CreateTableSql(schema, options, ServerVersion.Parse("24.8.4.13"), exactlyOnce: true);
        Assert.Contains("`_aietl_writer` LowCardinality(String), `_aietl_checkpoint` UInt64", current, StringComparison.Ordinal);
        Assert.DoesNotContain("_aietl_writer", TablePlan.CreateTableSql(schema, options, ServerVersion.Parse("24.8.4.13"), exactlyOnce: false), StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_options_are_all_reported_at_once()
    {
        var e = Assert.Throws<ConnectorConfigException>(() => new ClickHouseSink(new ClickHouseSinkOptions
        {
            Url = "localhost:8123", Table = "", BatchRows = 0, OrderBy = ["a"], Engine = ClickHouseTableEngine.ReplacingMergeTree, VersionColumn = "v",
        }));
        Assert.Contains(e.Problems, p => p.StartsWith("url must be", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.StartsWith("table must not be empty", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.StartsWith("batch_rows", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.StartsWith("order_by applies only", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.StartsWith("engine applies only", StringComparison.Ordinal));
    }

    [Fact]
    public void Spec_options_map_onto_sink_options_with_defaults_for_unset_values()
    {
        var o = ClickHouseConnectors.FromSpec(new ClickHouseSinkSpec("http://h:8123", "t", Compression: ClickHouseCompressionSpec.Gzip, BatchRows: 10), "out", DeliveryGuarantee.ExactlyOnce);
        Assert.Equal(("out", "default", "t", 10, ClickHouseCompression.Gzip, DeliveryGuarantee.ExactlyOnce), (o.Name, o.Database, o.Table, o.BatchRows, o.Compression, o.Delivery));
        Assert.Equal(new ClickHouseSinkOptions { Url = "x", Table = "t" }.BatchBytes, o.BatchBytes);
    }

    [Fact]
    public void The_schema_check_names_unsupported_and_reserved_columns()
    {
        var sink = new ClickHouseSink(new ClickHouseSinkOptions { Url = "http://h:8123", Table = "t", CreateTable = true, OrderBy = ["missing"] });
        var schema = new Apache.Arrow.Schema.Builder()
            .Field(new Apache.Arrow.Field("_aietl_writer", Apache.Arrow.Types.StringType.Default, false))
            .Field(new Apache.Arrow.Field("h", Apache.Arrow.Types.HalfFloatType.Default, false))
            .Build();
        var problems = sink.Validate(schema);
        Assert.Contains(problems, p => p.Contains("'_aietl_writer' is reserved", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'h'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("order_by column 'missing'", StringComparison.Ordinal));
    }
}
