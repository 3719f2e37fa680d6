using AiEtl.Engine.Columns;
using AiEtl.Engine.Postgres;

namespace AiEtl.Integration.Tests.Postgres;

/// <summary>The CDC value conversions, without a server.</summary>
public sealed class PgTypesTests
{
    [Theory]
    [InlineData("{1,2,NULL,-3}", 'N', "[1,2,null,-3]")]
    [InlineData("{}", 'N', "[]")]
    [InlineData("{{1,2},{3,4}}", 'N', "[[1,2],[3,4]]")]
    [InlineData("{NaN,1.5}", 'N', "[\"NaN\",1.5]")]
    [InlineData("{t,f,NULL}", 'B', "[true,false,null]")]
    [InlineData("{\"a b\",\"c,d\",NULL,\"NULL\",\"e\\\\\\\"f\",x}", 'S', "[\"a b\",\"c,d\",null,\"NULL\",\"e\\\\\\\"f\",\"x\"]")]
    [InlineData("[0:1]={7,8}", 'N', "[7,8]")]
    public void Array_literals_become_json(string literal, char category, string json) =>
        Assert.Equal(json, PgTypes.ArrayToJson(literal, category));

    [Theory]
    [InlineData("[1,2,null,-3]", "{1,2,NULL,-3}")]
    [InlineData("[[1,2],[3,4]]", "{{1,2},{3,4}}")]
    [InlineData("[]", "{}")]
    [InlineData("[\"a b\",\"c,d\",null,\"NULL\",\"e\\\\\\\"f\"]", "{\"a b\",\"c,d\",NULL,\"NULL\",\"e\\\\\\\"f\"}")]
    [InlineData("[true,false]", "{true,false}")]
    public void Json_arrays_become_array_literals(string json, string literal) =>
        Assert.Equal(literal, PgTypes.JsonToArrayLiteral(json));

    [Theory]
    [InlineData("2024-02-29 13:14:15.123456+00", "2024-02-29T13:14:15.123456Z")]
    [InlineData("2024-02-29 13:14:15+05:30", "2024-02-29T07:44:15.000000Z")]
    [InlineData("2024-02-29 13:14:15.5-03", "2024-02-29T16:14:15.500000Z")]
    [InlineData("1969-12-31 23:59:59.999999", "1969-12-31T23:59:59.999999Z")]
    [InlineData("infinity", "infinity")]
    [InlineData("-infinity", "-infinity")]
    public void Timestamps_parse_to_utc_micros_and_format_back(string text, string iso) =>
        Assert.Equal(iso, PgTypes.FormatMicros(PgTypes.ParseTimestamp(text)));

    [Fact]
    public void Years_outside_the_range_fail_with_the_value()
    {
        var e = Assert.Throws<FormatException>(() => PgTypes.ParseTimestamp("0044-03-15 00:00:00+00 BC"));
        Assert.Contains("BC", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Float4_text_keeps_the_short_decimal_value()
    {
        var col = new PgColumn("r", 700, -1, "real", PgConv.Float32, ' ');
        var b = new ColumnBuilder(ColumnKind.Float64);
        PgTypes.AppendText(b, col, "0.1");
        Assert.Equal(1, b.Length);
        b.Release();
        Assert.Equal("0.1", PgTypes.ToStringValue(col, "0.1"));
        Assert.Equal("NaN", PgTypes.ToStringValue(col, "NaN"));
    }

    [Fact]
    public void Bytea_hex_becomes_base64()
    {
        var col = new PgColumn("b", 17, -1, "bytea", PgConv.Bytea, ' ');
        Assert.Equal("AQL/", PgTypes.ToStringValue(col, "\\x0102ff"));
    }

    [Theory]
    [InlineData("orders", "public.orders", true)]
    [InlineData("orders", "sales.orders", true)]
    [InlineData("public.ord*", "public.orders", true)]
    [InlineData("public.ord*", "sales.orders", false)]
    [InlineData("*.tmp_?", "x.tmp_1", true)]
    [InlineData("*.tmp_?", "x.tmp_12", false)]
    public void Table_patterns_match_schema_qualified_names(string pattern, string table, bool match) =>
        Assert.Equal(match, CdcCatalog.Pattern(pattern).IsMatch(table));

    [Fact]
    public void Default_slot_names_are_valid_sql_names()
    {
        Assert.Equal("aietl_orders_mirror_v2", PostgresCdcOptions.DefaultSlot("Orders-Mirror.v2"));
        Assert.True(PostgresCdcOptions.DefaultSlot(new string('x', 100)).Length <= 63);
    }
}
