using System.Globalization;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Json;
using AiEtl.Engine.Memory;
using Apache.Arrow;
using static AiEtl.Engine.Tests.Json.JsonTestSupport;

namespace AiEtl.Engine.Tests.Json;

/// <summary>
/// Edges of the decoder's fast paths: eight-digit (SWAR) integer parsing, the vector key match of the
/// expected column, the UTC timestamp fast path, and special bytes at every position relative to a vector
/// (also in messages shorter than one). Each case is checked against an independent expectation.
/// </summary>
public sealed class JsonRowDecoderFastPathTests
{
    private static readonly JsonRowDecoder Decoder = new(Schema(), Options());

    private static (bool Ok, object? Value, JsonDecodeError Error) Decode(byte[] json, string column)
    {
        using var b = new BatchBuilder(Schema(), 16, new BufferPool());
        var ok = Decoder.TryDecode(json, b, out var error);
        if (!ok)
        {
            Assert.Equal(0, b.Length);
            return (false, null, error);
        }
        Assert.Equal(1, b.Length);
        using var batch = b.Build();
        return (true, Value(batch.Column(batch.Schema.GetFieldIndex(column)), 0), error);
    }

    [Fact]
    public void Integers_of_every_length_parse_exactly_and_out_of_range_ones_are_rejected()
    {
        var rng = new Random(7);
        for (var digits = 1; digits <= 21; digits++)
        {
            for (var trial = 0; trial < 40; trial++)
            {
                var sb = new StringBuilder();
                sb.Append((char)('1' + rng.Next(9)));
                for (var k = 1; k < digits; k++) sb.Append((char)('0' + rng.Next(10)));
                if (trial == 0) sb.Clear().Append('9', digits);
                if (trial == 1) sb.Clear().Append('1').Append('0', digits - 1);
                foreach (var sign in new[] { "", "-" })
                {
                    var text = sign + sb;
                    var expectOk = long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var expected);
                    // At the end of the message (fewer than 8 bytes may follow) and followed by more keys.
                    foreach (var json in new[] { "{\"id\":" + text + "}", "{\"id\":" + text + ",\"s\":\"padding past a vector\"}" })
                    {
                        var (ok, value, error) = Decode(Encoding.UTF8.GetBytes(json), "id");
                        Assert.True(expectOk == ok, $"{json}: {error}");
                        if (ok) Assert.Equal(expected, value);
                        else Assert.Equal(JsonErrorKind.OutOfRange, error.Kind);
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData("{\"id\":12345678.5}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":1234567812345678e1}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":12345678E1}", JsonErrorKind.TypeMismatch)]
    [InlineData("{\"id\":00000000}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":0123456789}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":-00000000}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1234567/}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1234567:}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":12345678/}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":1234567%FF}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":12345678.}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":-}", JsonErrorKind.Syntax)]
    [InlineData("{\"id\":99999999999999999999}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":9223372036854775808}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":-9223372036854775809}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":1,\"n\":2147483648}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":1,\"n\":-2147483649}", JsonErrorKind.OutOfRange)]
    [InlineData("{\"id\":1,\"es\":9223372036854775}", JsonErrorKind.OutOfRange)]
    public void Integers_that_break_the_rules_inside_an_eight_digit_window_are_rejected(string json, JsonErrorKind kind)
    {
        var (ok, _, error) = Decode(Bytes(json), "id");
        Assert.False(ok, "accepted: " + json);
        Assert.Equal(kind, error.Kind);
    }

    [Fact]
    public void Integers_with_a_zero_after_the_first_eight_digits_and_epoch_scaling_stay_exact()
    {
        Assert.Equal(10000000L, Decode(Encoding.UTF8.GetBytes("{\"id\":10000000}"), "id").Value);
        Assert.Equal(1234567890123456789L, Decode(Encoding.UTF8.GetBytes("{\"id\":1234567890123456789}"), "id").Value);
        Assert.Equal(-1000000000000000000L, Decode(Encoding.UTF8.GetBytes("{\"id\":-1000000000000000000}"), "id").Value);
        Assert.Equal(0L, Decode(Encoding.UTF8.GetBytes("{\"id\":0,\"i\":1}"), "id").Value);
        Assert.Equal("2023-11-14T22:13:20.123000Z", Decode(Encoding.UTF8.GetBytes("{\"id\":1,\"ems\":1700000000123}"), "ems").Value);
    }

    [Theory]
    // the expected key's name followed by more name bytes, or by an escape: not the expected column
    [InlineData("{\"id\":1,\"ii\":5}", "i", null)]
    [InlineData("{\"id\":1,\"i\\u0069\":5}", "i", null)]
    [InlineData("{\"id\":1,\"\\u0069\":5}", "i", 5L)]
    [InlineData("{\"id\":1,\"i\":5}", "i", 5L)]
    [InlineData("{\"idx\":2,\"id\":1}", "id", 1L)]
    [InlineData("{\"i\":3,\"id\":1}", "i", 3L)]
    [InlineData("{\"id\":1,\"I\":5}", "i", null)]
    [InlineData("{\"id\":1,\"i%00\":5}", "i", null)]
    public void The_expected_key_matches_only_the_exact_name(string json, string column, object? expected)
    {
        // The same keys in a short message (< 16 bytes after the key) and padded past a vector.
        foreach (var pad in new[] { "", ",\"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\":0" })
        {
            var text = json[..^1] + pad + "}";
            var (ok, value, error) = Decode(Bytes(text), column);
            if (text.Contains("i%00", StringComparison.Ordinal))
            {
                Assert.False(ok);
                Assert.Equal(JsonErrorKind.Syntax, error.Kind);
                continue;
            }
            Assert.True(ok, $"{text}: {error}");
            Assert.Equal(expected, value);
        }
    }

    [Fact]
    public void A_key_that_is_a_prefix_of_the_message_end_is_not_read_past_the_end()
    {
        foreach (var json in new[] { "{\"id\":1,\"i", "{\"id\":1,\"i\"", "{\"id\":1,\"i\":", "{\"i" })
        {
            var (ok, _, error) = Decode(Encoding.UTF8.GetBytes(json), "id");
            Assert.False(ok, json);
            Assert.Equal(JsonErrorKind.Syntax, error.Kind);
        }
    }

    [Theory]
    [InlineData("2024-01-02T03:04:05Z")]
    [InlineData("2024-01-02T03:04:05.1Z")]
    [InlineData("2024-01-02T03:04:05.12Z")]
    [InlineData("2024-01-02T03:04:05.123Z")]
    [InlineData("2024-01-02T03:04:05.1234Z")]
    [InlineData("2024-01-02T03:04:05.12345Z")]
    [InlineData("2024-01-02T03:04:05.123456Z")]
    [InlineData("2024-01-02T03:04:05.1234567Z")]
    [InlineData("2024-01-02T03:04:05.12345678Z")]
    [InlineData("2024-01-02T03:04:05.123456789Z")]
    [InlineData("2000-02-29T23:59:59.999999Z")]
    [InlineData("1969-12-31T23:59:59.000001Z")]
    [InlineData("0001-01-01T00:00:00Z")]
    [InlineData("9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999999Z")]
    [InlineData("2024-01-02T03:04:05+01:00")]
    [InlineData("2024-01-02T03:04:05.5-23:59", "2024-01-03T03:03:05.500000Z")]
    public void Utc_timestamps_take_the_same_value_on_every_path(string text, string? want = null)
    {
        // .NET's parser stands in as the independent expectation where its range allows.
        want ??= DateTimeOffset.Parse(text, CultureInfo.InvariantCulture).UtcDateTime
            .ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
        // Plain (fast path when it ends in Z) and with an escaped 'T' (general path).
        var plain = Decode(Encoding.UTF8.GetBytes("{\"id\":1,\"t\":\"" + text + "\"}"), "t");
        Assert.True(plain.Ok, plain.Error.ToString());
        Assert.Equal(want, plain.Value);
        var escaped = Decode(Encoding.UTF8.GetBytes("{\"id\":1,\"t\":\"" + text[..10] + "\\u0054" + text[11..] + "\"}"), "t");
        Assert.True(escaped.Ok, escaped.Error.ToString());
        Assert.Equal(want, escaped.Value);
    }

    [Theory]
    [InlineData("2024-02-30T00:00:00Z")]
    [InlineData("2023-02-29T00:00:00Z")]
    [InlineData("2024-00-10T00:00:00Z")]
    [InlineData("2024-13-10T00:00:00Z")]
    [InlineData("2024-01-00T00:00:00Z")]
    [InlineData("0000-01-01T00:00:00Z")]
    [InlineData("2024-01-02T24:00:00Z")]
    [InlineData("2024-01-02T23:60:00Z")]
    [InlineData("2024-01-02T23:59:60Z")]
    [InlineData("2024-01-02T03:04:05.Z")]
    [InlineData("2024-01-02T03:04:05.1234567890Z")]
    [InlineData("2024-01-02T03:04:05.12a4Z")]
    [InlineData("2024-01-02T03:04:05,5Z")]
    [InlineData("2024-01-02t03:04:05Z")]
    [InlineData("2024-01-02T03:04:05z")]
    [InlineData("2024-01-02T03:04:05ZZ")]
    [InlineData("2024-01-02T03:04:05")]
    [InlineData("2024-01-02 03:04:05Z")]
    [InlineData("2024/01/02T03:04:05Z")]
    [InlineData("2024-01-02T03-04:05Z")]
    [InlineData("2024-01-02T03:04-05Z")]
    [InlineData("2024-1-02T03:04:05Z")]
    [InlineData("2024-01-02T03:04:5Z")]
    [InlineData("+024-01-02T03:04:05Z")]
    [InlineData("2024-01-02T03:04:05.1Z5")]
    public void Malformed_utc_timestamps_are_rejected_as_invalid_time(string text)
    {
        var (ok, _, error) = Decode(Encoding.UTF8.GetBytes("{\"id\":1,\"t\":\"" + text + "\"}"), "t");
        Assert.False(ok, "accepted: " + text);
        Assert.Equal(JsonErrorKind.InvalidTime, error.Kind);
        Assert.Equal("t", error.Field);
    }

    [Fact]
    public void Escapes_non_ascii_and_bad_bytes_at_every_position_around_a_vector()
    {
        // Positions 0..70 cover both sides of the 16- and 32-byte vectors and the overlapping tail load; short
        // prefixes give messages shorter than a vector.
        var specials = new (string Json, string? Value, JsonErrorKind Kind)[]
        {
            ("\\n", "\n", default),
            ("\\\"", "\"", default),
            ("\\\\", "\\", default),
            ("\\u00e9", "é", default),
            ("\\ud83d\\ude00", "😀", default),
            ("é", "é", default),
            ("中", "中", default),
            ("😀", "😀", default),
            ("%FF", null, JsonErrorKind.Encoding),
            ("%C3", null, JsonErrorKind.Encoding),
            ("%E4%B8", null, JsonErrorKind.Encoding),
            ("%C0%80", null, JsonErrorKind.Encoding),
            ("%ED%A0%80", null, JsonErrorKind.Encoding),
            ("%80", null, JsonErrorKind.Encoding),
            ("\\ud800", null, JsonErrorKind.Encoding),
            ("\\udc00", null, JsonErrorKind.Encoding),
            ("\\x", null, JsonErrorKind.Syntax),
            ("\\u12", null, JsonErrorKind.Syntax),
            ("%01", null, JsonErrorKind.Syntax),
            ("%1F", null, JsonErrorKind.Syntax),
            ("\t", null, JsonErrorKind.Syntax),
        };
        foreach (var (special, value, kind) in specials)
        {
            for (var before = 0; before <= 70; before++)
            {
                foreach (var after in new[] { 0, 1, 15, 40 })
                {
                    var a = new string('a', before);
                    var z = new string('z', after);
                    // As the value of a string column, at the very end of a minimal message, and inside an unknown key's value.
                    var asValue = "{\"s\":\"" + a + special + z + "\",\"id\":1}";
                    var atEnd = "{\"id\":1,\"s\":\"" + a + special + z + "\"}";
                    var unknown = "{\"u\":\"" + a + special + z + "\",\"id\":1}";
                    foreach (var json in new[] { asValue, atEnd })
                    {
                        var (ok, got, error) = Decode(Bytes(json), "s");
                        if (value == null)
                        {
                            Assert.False(ok, "accepted: " + json);
                            Assert.Equal(kind, error.Kind);
                        }
                        else
                        {
                            Assert.True(ok, $"{json}: {error}");
                            Assert.Equal(a + value + z, got);
                        }
                    }
                    var (uok, _, uerror) = Decode(Bytes(unknown), "id");
                    Assert.Equal(value != null, uok);
                    if (!uok) Assert.Equal(kind, uerror.Kind);
                }
            }
        }
    }
}
