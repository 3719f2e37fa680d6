using System.Globalization;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Json;
using AiEtl.Engine.Memory;
using static AiEtl.Engine.Tests.Json.JsonTestSupport;

namespace AiEtl.Engine.Tests.Json;

/// <summary>
/// Numbers take a vector path (digit-run length from one compare, value in eight-digit words) and short
/// strings a single 32-byte copy when 32 bytes of the message follow them; near the end of a message the
/// general paths run. The same text must give the same value — or the same error — on both, and match an
/// independent parse.
/// </summary>
public sealed class JsonRowDecoderVectorPathTests
{
    private static readonly JsonRowDecoder Decoder = new(Schema(), Options());
    private const string Padding = ", \"pad\": \"padding that keeps the vector load inside the message\"}";

    private static (bool Ok, object? Value, JsonDecodeError Error) Decode(string json, string column)
    {
        using var b = new BatchBuilder(Schema(), 16, new BufferPool());
        var ok = Decoder.TryDecode(Encoding.UTF8.GetBytes(json), b, out var error);
        if (!ok)
        {
            Assert.Equal(0, b.Length);
            return (false, null, error);
        }
        using var batch = b.Build();
        return (true, Value(batch.Column(batch.Schema.GetFieldIndex(column)), 0), error);
    }

    /// <summary>Decodes <paramref name="text"/> in <paramref name="column"/> near the end and far from it; both must agree.</summary>
    private static (bool Ok, object? Value, JsonDecodeError Error) BothPaths(string column, string text)
    {
        var shortMsg = $"{{\"id\": 1, \"{column}\": {text}}}";
        var longMsg = $"{{\"id\": 1, \"{column}\": {text}{Padding}";
        var a = Decode(shortMsg, column);
        var b = Decode(longMsg, column);
        Assert.True(a.Ok == b.Ok, $"{text}: end {(a.Ok ? "ok" : a.Error.ToString())}, vector {(b.Ok ? "ok" : b.Error.ToString())}");
        if (a.Ok)
        {
            if (a.Value is double x)
                Assert.True(BitConverter.DoubleToInt64Bits(x) == BitConverter.DoubleToInt64Bits((double)b.Value!), $"{text}: {x:R} vs {b.Value:R}");
            else
                Assert.Equal(a.Value, b.Value);
        }
        else
        {
            Assert.Equal(a.Error.Kind, b.Error.Kind);
            Assert.Equal(a.Error.Offset, b.Error.Offset);
            Assert.Equal(a.Error.Detail, b.Error.Detail);
        }
        return b;
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0")]
    [InlineData("7")]
    [InlineData("00")]
    [InlineData("-01")]
    [InlineData("12345678")]
    [InlineData("123456789")]
    [InlineData("1234567890123456")]
    [InlineData("12345678901234567")]
    [InlineData("1000000000000000000")]
    [InlineData("9223372036854775807")]
    [InlineData("-9223372036854775808")]
    [InlineData("9223372036854775808")]
    [InlineData("-9223372036854775809")]
    [InlineData("9999999999999999999")]
    [InlineData("18446744073709551616")]
    [InlineData("99999999999999999999999999999999999")]
    [InlineData("1.5")]
    [InlineData("1e5")]
    [InlineData("1E5")]
    [InlineData("-")]
    [InlineData("-x")]
    [InlineData("12a")]
    public void Integer_edges_agree_on_both_paths(string text)
    {
        var r = BothPaths("i", text);
        var expectOk = long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)
            && !(text.TrimStart('-').Length > 1 && text.TrimStart('-')[0] == '0');
        Assert.Equal(expectOk, r.Ok);
        if (expectOk) Assert.Equal(v, r.Value);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0")]
    [InlineData("-0.0")]
    [InlineData("0.1")]
    [InlineData("123.45")]
    [InlineData("0.000000000000000000001")]
    [InlineData("9007199254740992")]
    [InlineData("9007199254740993")]
    [InlineData("9007199254740993.5")]
    [InlineData("1234567890.123456789")]
    [InlineData("12345678901234567890.5")]
    [InlineData("0.1234567890123456789012")]
    [InlineData("1.5e3")]
    [InlineData("1.5E-3")]
    [InlineData("1e400")]
    [InlineData("1.7976931348623157e308")]
    [InlineData("1.")]
    [InlineData("01.5")]
    [InlineData("-.5")]
    [InlineData("1.5.5")]
    [InlineData("3.14159265358979323846")]
    public void Float_edges_agree_on_both_paths_and_match_double_Parse(string text)
    {
        var r = BothPaths("f", text);
        if (r.Ok) Assert.Equal(BitConverter.DoubleToInt64Bits(double.Parse(text, CultureInfo.InvariantCulture)), BitConverter.DoubleToInt64Bits((double)r.Value!));
    }

    [Fact]
    public void Random_numbers_agree_on_both_paths()
    {
        var rng = new Random(11);
        for (var k = 0; k < 3000; k++)
        {
            var intDigits = 1 + rng.Next(20);
            var sb = new StringBuilder();
            if (rng.Next(3) == 0) sb.Append('-');
            sb.Append((char)('1' + rng.Next(9)));
            for (var d = 1; d < intDigits; d++) sb.Append((char)('0' + rng.Next(10)));
            var integer = sb.ToString();
            var r = BothPaths("i", integer);
            Assert.Equal(long.TryParse(integer, CultureInfo.InvariantCulture, out var iv), r.Ok);
            if (r.Ok) Assert.Equal(iv, r.Value);

            if (rng.Next(2) == 0) sb.Clear().Append(rng.Next(2) == 0 ? "-0" : "0");
            var frac = 1 + rng.Next(20);
            sb.Append('.');
            for (var d = 0; d < frac; d++) sb.Append((char)('0' + rng.Next(10)));
            if (rng.Next(8) == 0) sb.Append('e').Append(rng.Next(-30, 30).ToString(CultureInfo.InvariantCulture));
            var real = sb.ToString();
            var f = BothPaths("f", real);
            Assert.True(f.Ok, real);
            Assert.Equal(BitConverter.DoubleToInt64Bits(double.Parse(real, CultureInfo.InvariantCulture)), BitConverter.DoubleToInt64Bits((double)f.Value!));

            var bits = rng.NextDouble() * Math.Pow(10, rng.Next(-20, 20));
            var roundTrip = bits.ToString("R", CultureInfo.InvariantCulture);
            var g = BothPaths("f", roundTrip);
            Assert.Equal(BitConverter.DoubleToInt64Bits(bits), BitConverter.DoubleToInt64Bits((double)g.Value!));
        }
    }

    [Fact]
    public void Strings_of_every_length_around_the_vector_width_agree_on_both_paths()
    {
        for (var len = 0; len <= 40; len++)
        {
            var ascii = string.Concat(Enumerable.Range(0, len).Select(i => (char)('a' + i % 26)));
            var mixed = len >= 2 ? ascii[..(len - 2)] + "é" : ascii; // the same byte length, non-ASCII at the end
            var escaped = len >= 2 ? ascii[..(len - 2)] + "\\\\" : ascii; // JSON \\ (one backslash)
            foreach (var (text, expected) in new[] { (ascii, ascii), (mixed, mixed), (escaped, len >= 2 ? ascii[..(len - 2)] + "\\" : ascii) })
            {
                var r = BothPaths("s", "\"" + text + "\"");
                Assert.True(r.Ok, text);
                Assert.Equal(expected, r.Value);
            }
            // Several short strings in a row: each copy's spill past its length is overwritten by the next.
            var many = $"{{\"id\": 1, \"s\": \"{ascii}\", \"x\": \"zz\", \"d\": \"2026-11-01\"{Padding}";
            Assert.True(Decode(many, "s").Ok);
        }
        using var b = new BatchBuilder(Schema(), 4, new BufferPool());
        var dec = new JsonRowDecoder(Schema(), Options());
        var values = new List<string>();
        for (var i = 0; i < 200; i++)
        {
            var v = new string((char)('a' + i % 26), i % 37);
            values.Add(v);
            Assert.True(dec.TryDecode(Encoding.UTF8.GetBytes($"{{\"id\": {i}, \"s\": \"{v}\"{Padding.Replace("\"s\"", "\"pad\"", StringComparison.Ordinal)}"), b, out var e), e.ToString());
        }
        using var batch = b.Build();
        for (var i = 0; i < values.Count; i++) Assert.Equal(values[i], Value(batch.Column(4), i));
    }
}
