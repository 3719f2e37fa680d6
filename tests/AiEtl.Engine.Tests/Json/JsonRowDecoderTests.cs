using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Json;
using AiEtl.Engine.Memory;
using Apache.Arrow;
using static AiEtl.Engine.Tests.Json.JsonTestSupport;

namespace AiEtl.Engine.Tests.Json;

public sealed class JsonRowDecoderTests
{
    private const string Good = "{\"id\":42,\"i\":7,\"n\":-3,\"f\":2.5,\"s\":\"keep\",\"b\":true,\"t\":\"2020-01-01T00:00:00Z\",\"d\":\"2020-01-01\",\"es\":1,\"ems\":2,\"eus\":3}";

    private static readonly JsonRowDecoder Decoder = new(Schema(), Options());

    // Cases use %HH for a raw byte (see JsonTestSupport.Bytes).
    [Theory]
    // whitespace, nulls, missing keys
    [InlineData("{\"id\":1}", "id", 1L)]
    [InlineData(" \t\r\n{ \"id\" : 1 , \"i\" : 2 } \n", "i", 2L)]
    [InlineData("{\"id\":1,\"i\":null}", "i", null)]
    [InlineData("{\"id\":1}", "s", null)]
    [InlineData("{\"s\":\"x\",\"id\":3}", "s", "x")]
    // integers
    [InlineData("{\"id\":-9223372036854775808}", "id", long.MinValue)]
    [InlineData("{\"id\":9223372036854775807}", "id", long.MaxValue)]
    [InlineData("{\"id\":9007199254740993}", "id", 9007199254740993L)]
    [InlineData("{\"id\":1,\"i\":-0}", "i", 0L)]
    [InlineData("{\"id\":1,\"i\":0}", "i", 0L)]
    [InlineData("{\"id\":1,\"n\":2147483647}", "n", int.MaxValue)]
    [InlineData("{\"id\":1,\"n\":-2147483648}", "n", int.MinValue)]
    // floats, correctly rounded
    [InlineData("{\"id\":1,\"f\":1}", "f", 1.0)]
    [InlineData("{\"id\":1,\"f\":-0}", "f", -0.0)]
    [InlineData("{\"id\":1,\"f\":-0.0e5}", "f", -0.0)]
    [InlineData("{\"id\":1,\"f\":0.1}", "f", 0.1)]
    [InlineData("{\"id\":1,\"f\":1e308}", "f", 1e308)]
    [InlineData("{\"id\":1,\"f\":1E-5}", "f", 1e-5)]
    [InlineData("{\"id\":1,\"f\":1e+2}", "f", 100.0)]
    [InlineData("{\"id\":1,\"f\":2.2250738585072011e-308}", "f", 2.2250738585072011e-308)]
    [InlineData("{\"id\":1,\"f\":9007199254740993}", "f", 9007199254740992.0)]
    [InlineData("{\"id\":1,\"f\":1e-400}", "f", 0.0)]
    [InlineData("{\"id\":1,\"f\":123456789012345678901234567890}", "f", 1.2345678901234568E+29)]
    [InlineData("{\"id\":1,\"f\":0.30000000000000004}", "f", 0.30000000000000004)]
    [InlineData("{\"id\":1,\"f\":5e-324}", "f", double.Epsilon)]
    [InlineData("{\"id\":1,\"f\":1.7976931348623157e308}", "f", double.MaxValue)]
    [InlineData("{\"id\":1,\"f\":0.000000000000000000000000000001}", "f", 1e-30)]
    // strings kept exactly
    [InlineData("{\"id\":1,\"s\":\"héllo\"}", "s", "héllo")]
    [InlineData("{\"id\":1,\"s\":\"a\\u0000b\"}", "s", "a\0b")]
    [InlineData("{\"id\":1,\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", "s", "\"\\/\b\f\n\r\t")]
    [InlineData("{\"id\":1,\"s\":\"\\ud83d\\ude00\"}", "s", "😀")]
    [InlineData("{\"id\":1,\"s\":\"\\uD83D\\uDE00\"}", "s", "😀")]
    [InlineData("{\"id\":1,\"s\":\"  padded  \"}", "s", "  padded  ")]
    [InlineData("{\"id\":1,\"s\":\"\"}", "s", "")]
    [InlineData("{\"id\":1,\"s\":\"😀 and 中文\"}", "s", "😀 and 中文")]
    [InlineData("{\"id\":1,\"s\":\"\\u00e9\\u20AC\"}", "s", "é€")]
    [InlineData("{\"id\":1,\"s\":\"a/b\"}", "s", "a/b")]
    [InlineData("{\"id\":1,\"s\":\"%EF%BF%BF %F4%8F%BF%BF\"}", "s", "\uffff \U0010FFFF")]
    [InlineData("{\"id\":1,\"s\":\"e\u0301\"}", "s", "e\u0301")]
    [InlineData("{\"id\":1,\"s\":\"a long string of more than thirty-two bytes, with \\\"escapes\\\" late in it\"}", "s", "a long string of more than thirty-two bytes, with \"escapes\" late in it")]
    // booleans
    [InlineData("{\"id\":1,\"b\":true}", "b", true)]
    [InlineData("{\"id\":1,\"b\":false}", "b", false)]
    // timestamps
    [InlineData("{\"id\":1,\"t\":\"2024-01-02T03:04:05Z\"}", "t", "2024-01-02T03:04:05.000000Z")]
    [InlineData("{\"id\":1,\"t\":\"2024-01-02T03:04:05.5Z\"}", "t", "2024-01-02T03:04:05.500000Z")]
    [InlineData("{\"id\":1,\"t\":\"2024-01-02T03:04:05.123456789Z\"}", "t", "2024-01-02T03:04:05.123456Z")]
    [InlineData("{\"id\":1,\"t\":\"2024-01-02T03:04:05+02:00\"}", "t", "2024-01-02T01:04:05.000000Z")]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:00:00-05:30\"}", "t", "2024-01-01T05:30:00.000000Z")]
    [InlineData("{\"id\":1,\"t\":\"2024-02-29T12:00:00Z\"}", "t", "2024-02-29T12:00:00.000000Z")]
    [InlineData("{\"id\":1,\"t\":\"1969-12-31T23:59:59.999999Z\"}", "t", "1969-12-31T23:59:59.999999Z")]
    [InlineData("{\"id\":1,\"t\":\"0001-01-01T00:00:00Z\"}", "t", "0001-01-01T00:00:00.000000Z")]
    [InlineData("{\"id\":1,\"t\":\"9999-12-31T23:59:59.9999999Z\"}", "t", "9999-12-31T23:59:59.999999Z")]
    [InlineData("{\"id\":1,\"t\":\"2000-02-29T00:00:00.1+00:00\"}", "t", "2000-02-29T00:00:00.100000Z")]
    [InlineData("{\"id\":1,\"t\":\"2024-01-02\\u005403:04:05Z\"}", "t", "2024-01-02T03:04:05.000000Z")]
    [InlineData("{\"id\":1,\"t\":null}", "t", null)]
    [InlineData("{\"id\":1,\"es\":-1}", "es", "1969-12-31T23:59:59.000000Z")]
    [InlineData("{\"id\":1,\"ems\":1700000000123}", "ems", "2023-11-14T22:13:20.123000Z")]
    [InlineData("{\"id\":1,\"eus\":1}", "eus", "1970-01-01T00:00:00.000001Z")]
    // dates
    [InlineData("{\"id\":1,\"d\":\"2024-02-29\"}", "d", "2024-02-29")]
    [InlineData("{\"id\":1,\"d\":\"1970-01-01\"}", "d", "1970-01-01")]
    [InlineData("{\"id\":1,\"d\":\"1900-03-01\"}", "d", "1900-03-01")]
    // keys: exact, escaped, unknown ones ignored whatever they hold
    [InlineData("{\"id\":1,\"ID\":2,\"Id\":3}", "id", 1L)]
    [InlineData("{\"\\u0069d\":7}", "id", 7L)]
    [InlineData("{\"x\":{\"a\":[1,2.5e3,{\"b\":null}],\"c\":\"\\u00e9\"},\"id\":5}", "id", 5L)]
    [InlineData("{\"x\":{\"a\":1,\"a\":2},\"id\":1}", "id", 1L)]
    [InlineData("{\"x\":1e400,\"y\":[true,false,null,\"\"],\"z\":{},\"w\":[],\"id\":9}", "id", 9L)]
    [InlineData("{\"\":0,\"id\":1}", "id", 1L)]
    [InlineData("{\"x\":\"%C3%A9%E2%82%AC%F0%9F%98%80\",\"id\":1}", "id", 1L)]
    public void Accepts(string json, string column, object? expected)
    {
        using var b = new BatchBuilder(Schema(), 16, new BufferPool());
        var ok = Decoder.TryDecode(Bytes(json), b, out var error);
        Assert.True(ok, error.ToString());
        Assert.Equal(1, b.Length);
        using var batch = b.Build();
        var idx = batch.Schema.GetFieldIndex(column);
        var actual = Value(batch.Column(idx), 0);
        if (expected is double d)
            Assert.Equal(BitConverter.DoubleToInt64Bits(d), BitConverter.DoubleToInt64Bits((double)actual!));
        else
            Assert.Equal(expected, actual);
    }

    [Theory]
    // syntax
    [InlineData("", JsonErrorKind.Syntax)]
    [InlineData("   \n", JsonErrorKind.Syntax)]
    [InlineData("[1]", JsonErrorKind.Syntax)]
    [InlineData("\"x\"", JsonErrorKind.Syntax)]
    [InlineData("1", JsonErrorKind.Syntax)]
    [InlineData("null", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1}x", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1}{}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1}%C3%A9", JsonErrorKind.Syntax)]
    [InlineData("{'id':1}", JsonErrorKind.Syntax)]
    [InlineData("{id:1}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":01}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":-01}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":+1}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":-}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"f\":NaN}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"f\":Infinity}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"f\":-Infinity}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"f\":1.}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"f\":.5}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"f\":1e}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"f\":1e+}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"f\":00.5}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"f\":0x10}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1 /*c*/}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1} // c", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"s\":\"a\tb\"}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"s\":\"a%00b\"}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"x\":\"a\nb\"}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"s\":\"a\\xb\"}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"s\":\"a\\'b\"}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"s\":\"abc}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"s\":\"\\u12\"}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"s\":\"\\u12G4\"}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"s\":'x'}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"b\":tru}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"b\":True}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"b\":truex}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"x\":nul}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"x\":[1,2,]}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"x\":[1 2]}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"x\":{\"a\"}}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"x\":{\"a\":1,}}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"x\":[}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,\"x\":{]}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1", JsonErrorKind.Syntax)]
    [InlineData("{\"id\"1}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1,,\"i\":2}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1%0B}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1%C2%A0}", JsonErrorKind.Syntax)]
    // encoding
    [InlineData("%EF%BB%BF{\"id\":1}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%FF\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"x\":\"%FF\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"x%FF\":1}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"x\":[{\"y\":\"ok %80\"}]}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%C0%AF\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%C1%BF\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%E0%80%AF\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%F0%80%80%AF\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%ED%A0%80\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"x\":\"%ED%BF%BF\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%F4%90%80%80\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%F5%80%80%80\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%E2%82\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%C3\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%F0%9F%98\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"%C3%C3%A9\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"\\ud800\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"x\":\"\\ud800\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"\\ud800\":1}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"\\udc00\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"\\ud800\\u0041\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"\\ud800\\ud800\"}", JsonErrorKind.Encoding)]
    [InlineData("{\"id\":1,\"s\":\"\\ude00\\ud83d\"}", JsonErrorKind.Encoding)]
    // duplicates (after unescaping), known or unknown
    [InlineData("{\"id\":1,\"id\":2}", JsonErrorKind.DuplicateKey)]
    [InlineData("{\"id\":1,\"\\u0069d\":2}", JsonErrorKind.DuplicateKey)]
    [InlineData("{\"id\":1,\"i\":null,\"i\":null}", JsonErrorKind.DuplicateKey)]
    [InlineData("{\"id\":1,\"x\":1,\"x\":2}", JsonErrorKind.DuplicateKey)]
    [InlineData("{\"id\":1,\"x\\u0041\":1,\"xA\":[2]}", JsonErrorKind.DuplicateKey)]
    [InlineData("{\"\":1,\"id\":1,\"\":2}", JsonErrorKind.DuplicateKey)]
    // required
    [InlineData("{}", JsonErrorKind.MissingRequired)]
    [InlineData("{\"id\":null}", JsonErrorKind.MissingRequired)]
    [InlineData("{\"i\":1}", JsonErrorKind.MissingRequired)]
    [InlineData("{\"Id\":1}", JsonErrorKind.MissingRequired)]
    // types
    [InlineData("{\"id\":1.0}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1e3}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1E3}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":\"123\"}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":true}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":[1]}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"n\":1.5}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"s\":1}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"s\":[\"a\"]}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"s\":{}}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"s\":false}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"b\":1}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"b\":\"true\"}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"f\":\"1.5\"}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"f\":true}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"t\":1700000000}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"ems\":\"2024-01-01T00:00:00Z\"}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"ems\":1.5}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1,\"d\":20240101}", JsonErrorKind.TypeMismatch)]
    // ranges
    [InlineData("{\"id\":9223372036854775808}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":-9223372036854775809}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":100000000000000000000}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":1,\"n\":2147483648}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":1,\"n\":-2147483649}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":1,\"f\":1e400}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":1,\"f\":-1e400}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":1,\"f\":1.8e308}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":1,\"es\":9223372036855}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":1,\"ems\":-9223372036854776}", JsonErrorKind.OutOfRange)]
    // timestamps and dates
    [InlineData("{\"id\":1,\"t\":\"2024-02-30T00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2023-02-29T00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"1900-02-29T00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-04-31T00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-13-01T00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-00-01T00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T24:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:60:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:00:60Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:00:00\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:00:00.123\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01 00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01t00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:00:00z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:00:00.Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:00:00.1234567890Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:00:00+0200\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:00:00+24:00\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:00:00+02:60\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T00:00:00Z \"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\" 2024-01-01T00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-1-01T00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01T0:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"2024-01-01\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"0000-01-01T00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"1700000000\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"t\":\"\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"d\":\"2024-13-01\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"d\":\"2024-02-30\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"d\":\"2024-01-01T00:00:00Z\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"d\":\"24-01-01\"}", JsonErrorKind.InvalidTime)]
    [InlineData("{\"id\":1,\"d\":\"2024/01/01\"}", JsonErrorKind.InvalidTime)]
    public void Rejects(string json, JsonErrorKind kind)
    {
        using var b = new BatchBuilder(Schema(), 16, new BufferPool());
        Assert.True(Decoder.TryDecode(Encoding.UTF8.GetBytes(Good), b, out var e0), e0.ToString());

        var ok = Decoder.TryDecode(Bytes(json), b, out var error);

        Assert.False(ok, "accepted: " + json);
        Assert.Equal(kind, error.Kind);
        Assert.False(string.IsNullOrEmpty(error.Message));
        Assert.True(error.Offset >= 0 && error.Offset <= Bytes(json).Length, error.ToString());
        AssertOnlyTheGoodRow(b);
    }

    private static void AssertOnlyTheGoodRow(BatchBuilder b)
    {
        for (var c = 0; c < b.ColumnCount; c++) Assert.Equal(1, b[c].Length);
        Assert.True(Decoder.TryDecode(Encoding.UTF8.GetBytes(Good), b, out var e1), e1.ToString());
        using var batch = b.Build();
        Assert.Equal(2, batch.Length);
        for (var c = 0; c < batch.Schema.FieldsList.Count; c++)
        {
            Assert.Equal(0, batch.Column(c).NullCount);
            Assert.Equal(Value(batch.Column(c), 0), Value(batch.Column(c), 1));
        }
        Assert.Equal("keep", ((StringArray)batch.Column(4)).GetString(1));
    }

    [Theory]
    [InlineData(63, true)]
    [InlineData(64, false)]
    [InlineData(100_000, false)]
    public void Nesting_is_limited_to_64_levels_counting_the_top_object(int inner, bool accepted)
    {
        var json = "{\"x\":" + new string('[', inner) + new string(']', inner) + ",\"id\":1}";
        using var b = new BatchBuilder(Schema(), 16, new BufferPool());
        var ok = Decoder.TryDecode(Encoding.UTF8.GetBytes(json), b, out var error);
        Assert.Equal(accepted, ok);
        if (!accepted) Assert.Equal(JsonErrorKind.Limit, error.Kind);
    }

    [Fact]
    public void Deep_unclosed_nesting_is_an_error_not_a_stack_overflow()
    {
        var json = "{\"x\":" + new string('{', 500_000);
        using var b = new BatchBuilder(Schema(), 16, new BufferPool());
        Assert.False(Decoder.TryDecode(Encoding.UTF8.GetBytes(json), b, out var error));
        Assert.True(error.Kind is JsonErrorKind.Limit or JsonErrorKind.Syntax);
    }

    [Fact]
    public void Messages_up_to_1_MiB_are_accepted_and_larger_ones_rejected()
    {
        var prefix = "{\"id\":1,\"s\":\""u8.ToArray();
        var suffix = "\"}"u8.ToArray();
        var exact = new byte[JsonRowDecoder.MaxMessageBytes];
        prefix.CopyTo(exact, 0);
        exact.AsSpan(prefix.Length, exact.Length - prefix.Length - suffix.Length).Fill((byte)'a');
        suffix.CopyTo(exact, exact.Length - suffix.Length);
        using var b = new BatchBuilder(Schema(), 16, new BufferPool());
        Assert.True(Decoder.TryDecode(exact, b, out var e0), e0.ToString());

        var bigger = new byte[exact.Length + 1];
        exact.CopyTo(bigger, 0);
        bigger[^1] = (byte)' ';
        Assert.False(Decoder.TryDecode(bigger, b, out var error));
        Assert.Equal(JsonErrorKind.Limit, error.Kind);
        Assert.Equal(1, b.Length);
    }

    [Fact]
    public void Many_unknown_keys_are_checked_for_duplicates()
    {
        var sb = new StringBuilder("{\"id\":1");
        for (var i = 0; i < 5000; i++) sb.Append(",\"k").Append(i).Append("\":").Append(i);
        using var b = new BatchBuilder(Schema(), 16, new BufferPool());
        Assert.True(Decoder.TryDecode(Encoding.UTF8.GetBytes(sb + "}"), b, out var e0), e0.ToString());
        sb.Append(",\"k4321\":0}");
        Assert.False(Decoder.TryDecode(Encoding.UTF8.GetBytes(sb.ToString()), b, out var error));
        Assert.Equal(JsonErrorKind.DuplicateKey, error.Kind);
        Assert.Equal("k4321", error.Field);
        // The unknown-key set starts empty for the next message.
        Assert.True(Decoder.TryDecode("{\"k4321\":0,\"id\":2}"u8, b, out var e1), e1.ToString());
    }

    [Fact]
    public void Error_names_field_offset_and_class()
    {
        using var b = new BatchBuilder(Schema(), 16, new BufferPool());
        Assert.False(Decoder.TryDecode("{\"id\":1,\"n\":1.5}"u8, b, out var e));
        Assert.Equal("n", e.Field);
        Assert.Equal(12, e.Offset);
        Assert.Equal("schema", e.ErrorClass);
        Assert.Contains("'n'", e.Message);
        Assert.Contains("byte 12", e.Message);

        Assert.False(Decoder.TryDecode(Bytes("{\"id\":1,\"s\":\"ab%FF\"}"), b, out e));
        Assert.Equal(JsonErrorKind.Encoding, e.Kind);
        Assert.Equal("s", e.Field);
        Assert.Equal(15, e.Offset);
        Assert.Equal("decode", e.ErrorClass);

        Assert.False(Decoder.TryDecode(Bytes("{\"id\":1,\"extra\":[\"%C0%80\"]}"), b, out e));
        Assert.Equal("extra", e.Field);
        Assert.Contains("overlong", e.Message);

        Assert.False(Decoder.TryDecode("{\"id\":1,\"f\":1e400}"u8, b, out e));
        Assert.Equal("overflow", e.ErrorClass);
        Assert.False(Decoder.TryDecode("{\"id\":1,\"t\":\"2024-02-30T00:00:00Z\"}"u8, b, out e));
        Assert.Equal("convert", e.ErrorClass);
        Assert.False(Decoder.TryDecode("{}"u8, b, out e));
        Assert.Equal("id", e.Field);
        Assert.Equal(0, b.Length);
    }

    [Fact]
    public void Strings_longer_than_a_vector_near_the_message_end_are_scanned_exactly()
    {
        // Exercise the overlapping tail load: the closing quote sits in the last 16 bytes at every position.
        for (var len = 0; len < 80; len++)
        {
            var s = new string('x', len);
            var json = "{\"id\":1,\"s\":\"" + s + "\"}";
            using var b = new BatchBuilder(Schema(), 16, new BufferPool());
            Assert.True(Decoder.TryDecode(Encoding.UTF8.GetBytes(json), b, out var e), e.ToString());
            using var batch = b.Build();
            Assert.Equal(s, ((StringArray)batch.Column(4)).GetString(0));
            Assert.False(Decoder.TryDecode(Encoding.UTF8.GetBytes(json[..^2]), b, out _));
            Assert.False(Decoder.TryDecode(Bytes("{\"id\":1,\"s\":\"" + s + "%FF\"}"), b, out e));
            Assert.Equal(JsonErrorKind.Encoding, e.Kind);
        }
    }

    [Fact]
    public void Required_can_come_from_a_non_nullable_field_and_options_are_validated()
    {
        var schema = new Schema.Builder()
            .Field(ColumnTypes.Field("a", ColumnKind.Int64, nullable: false))
            .Field(ColumnTypes.Field("s", ColumnKind.String))
            .Build();
        var dec = new JsonRowDecoder(schema);
        using var b = new BatchBuilder(schema, 16, new BufferPool());
        Assert.False(dec.TryDecode("{\"s\":\"x\"}"u8, b, out var e));
        Assert.Equal(JsonErrorKind.MissingRequired, e.Kind);

        var ex = Assert.Throws<ArgumentException>(() => new JsonRowDecoder(schema, new Dictionary<string, JsonColumnOptions>
        {
            ["nope"] = new(Required: true),
            ["s"] = new(TimeFormat: JsonTimeFormat.EpochMillis),
        }));
        Assert.Contains("nope", ex.Message);
        Assert.Contains("timestamp", ex.Message);
    }

    [Fact]
    public void Column_names_that_need_escaping_or_are_not_ascii_match_after_unescaping()
    {
        var schema = new Schema.Builder()
            .Field(ColumnTypes.Field("a\"b", ColumnKind.Int64))
            .Field(ColumnTypes.Field("prix€", ColumnKind.Int64))
            .Field(ColumnTypes.Field("", ColumnKind.Int64))
            .Build();
        var dec = new JsonRowDecoder(schema);
        using var b = new BatchBuilder(schema, 16, new BufferPool());
        Assert.True(dec.TryDecode("{\"a\\\"b\":1,\"prix€\":2,\"\":3}"u8, b, out var e), e.ToString());
        Assert.True(dec.TryDecode("{\"prix\\u20ac\":5,\"a\\u0022b\":4}"u8, b, out e), e.ToString());
        Assert.False(dec.TryDecode("{\"prix€\":5,\"prix\\u20AC\":4}"u8, b, out e));
        Assert.Equal(JsonErrorKind.DuplicateKey, e.Kind);
        using var batch = b.Build();
        Assert.Equal([1L, 4L], ((Int64Array)batch.Column(0)).Values.ToArray());
        Assert.Equal([2L, 5L], ((Int64Array)batch.Column(1)).Values.ToArray());
        Assert.Equal(3L, ((Int64Array)batch.Column(2)).GetValue(0));
        Assert.True(batch.Column(2).IsNull(1));
    }

    [Fact]
    public void A_builder_of_another_schema_is_refused()
    {
        var other = new Schema.Builder().Field(ColumnTypes.Field("x", ColumnKind.String)).Build();
        using var b = new BatchBuilder(other, 16, new BufferPool());
        Assert.Throws<ArgumentException>(() => Decoder.TryDecode("{}"u8, b, out _));
    }

    [Fact]
    public void Success_path_does_not_allocate()
    {
        var dec = new JsonRowDecoder(Schema(), Options());
        var msg = Encoding.UTF8.GetBytes("{\"id\":42,\"i\":7,\"n\":-3,\"f\":2.5,\"s\":\"k\\\"eep\",\"b\":true,\"t\":\"2020-01-01T00:00:00.123+01:00\",\"d\":\"2020-01-01\",\"x\":[1,{\"y\":null}],\"es\":1,\"ems\":2,\"f2\":1.25e-7}");
        using var b = new BatchBuilder(Schema(), 4096, new BufferPool());
        for (var i = 0; i < 100; i++) Assert.True(dec.TryDecode(msg, b, out _));
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++) dec.TryDecode(msg, b, out _);
        var after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, after - before);
    }
}
