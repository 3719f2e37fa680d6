using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Json;
using AiEtl.Engine.Memory;
using static AiEtl.Engine.Tests.Json.JsonTestSupport;

namespace AiEtl.Engine.Tests.Json;

/// <summary>
/// The remembered-layout fast path: after a message decodes, the next one is first matched against that
/// message's separators and keys byte for byte. Every case decodes a message with a warm decoder (whose
/// layout is the base message's) and with a fresh one (no layout: the general path), and the two must agree
/// exactly — the same values, or the same error kind, offset, field and detail, and no partial row.
/// </summary>
public sealed class JsonRowDecoderLayoutTests
{
    // The bench's layout ("key": value, a space after colons and commas) over every column kind.
    private const string Base =
        "{\"id\": 1000000000000000001, \"i\": -42, \"n\": 7, \"f\": 123.45, \"s\": \"delivered\", \"b\": true, " +
        "\"t\": \"2026-11-01T00:00:00.123456Z\", \"d\": \"2026-11-01\", \"es\": 1793491200, \"ems\": null, \"eus\": 1793491200000001}";

    private readonly JsonRowDecoder _warm = new(Schema(), Options());
    private readonly BatchBuilder _warmRows = new(Schema(), 16, new BufferPool());

    private static string Describe(byte[] json) => Encoding.UTF8.GetString(json).Replace("\uFFFD", "<bad>", StringComparison.Ordinal);

    /// <summary>Decodes <paramref name="base"/> (the warm decoder learns its layout), then checks <paramref name="json"/>.</summary>
    private void Agree(byte[] json, string @base = Base)
    {
        _warmRows.Truncate(0);
        Assert.True(_warm.TryDecode(Bytes(@base), _warmRows, out var baseError), baseError.ToString());
        AgreeNext(json);
    }

    /// <summary>Checks <paramref name="json"/> with the warm decoder as the previous messages left it.</summary>
    private void AgreeNext(byte[] json)
    {
        _warmRows.Truncate(0);
        var okWarm = _warm.TryDecode(json, _warmRows, out var errWarm);
        using var coldRows = new BatchBuilder(Schema(), 16, new BufferPool());
        var okCold = new JsonRowDecoder(Schema(), Options()).TryDecode(json, coldRows, out var errCold);
        var what = Describe(json);
        Assert.True(okWarm == okCold, $"{what}: warm {(okWarm ? "ok" : errWarm.ToString())}, fresh {(okCold ? "ok" : errCold.ToString())}");
        if (!okWarm)
        {
            Assert.Equal(0, _warmRows.Length);
            Assert.True(errWarm.Kind == errCold.Kind && errWarm.Offset == errCold.Offset && errWarm.Field == errCold.Field && errWarm.Detail == errCold.Detail,
                $"{what}: warm {errWarm} at {errWarm.Offset}, fresh {errCold} at {errCold.Offset}");
            return;
        }
        Assert.Equal(1, _warmRows.Length);
        using var a = _warmRows.Build();
        using var b = coldRows.Build();
        for (var c = 0; c < a.Schema.FieldsList.Count; c++)
        {
            var x = Value(a.Column(c), 0);
            var y = Value(b.Column(c), 0);
            if (x is double dx && y is double dy)
                Assert.True(BitConverter.DoubleToInt64Bits(dx) == BitConverter.DoubleToInt64Bits(dy), $"{what}: column {c} {dx:R} vs {dy:R}");
            else
                Assert.True(Equals(x, y), $"{what}: column {a.Schema.FieldsList[c].Name} warm {x ?? "null"}, fresh {y ?? "null"}");
        }
    }

    private static string With(string field, string value) =>
        System.Text.RegularExpressions.Regex.Replace(Base, $"\"{field}\": (\"[^\"]*\"|[^,}}]*)", $"\"{field}\": {value}");

    [Fact]
    public void The_layout_is_learned_and_a_message_of_the_same_layout_decodes_through_it()
    {
        Agree(Bytes(Base));
        Assert.Equal(11, _warm.LayoutFields);
        Agree(Bytes(With("id", "7").Replace("123.45", "0.5", StringComparison.Ordinal)));
        Assert.Equal(11, _warm.LayoutFields);
    }

    [Theory]
    [InlineData("s", "\"a\\\"b\\\\c\\u00e9\\n\\/\"")]          // escapes
    [InlineData("s", "\"中é😀 mixed ascii\"")]                      // non-ASCII
    [InlineData("s", "\"bad %FF byte\"")]                           // invalid UTF-8
    [InlineData("s", "\"overlong %C0%AF\"")]
    [InlineData("s", "\"surrogate %ED%A0%80\"")]
    [InlineData("s", "\"truncated %E4%B8\"")]
    [InlineData("s", "\"\\ud800 unpaired\"")]
    [InlineData("s", "\"\\udc00\"")]
    [InlineData("s", "\"\\ud83d\\ude00 pair\"")]
    [InlineData("s", "\"control %01 byte\"")]
    [InlineData("s", "\"tab %09 raw\"")]
    [InlineData("s", "\"\\u0000 kept\"")]
    [InlineData("s", "\"unterminated")]
    [InlineData("s", "17")]
    [InlineData("s", "null")]
    [InlineData("id", "9223372036854775807")]
    [InlineData("id", "-9223372036854775808")]
    [InlineData("id", "9223372036854775808")]
    [InlineData("id", "-9223372036854775809")]
    [InlineData("id", "99999999999999999999")]
    [InlineData("id", "1.0")]
    [InlineData("id", "1e3")]
    [InlineData("id", "\"123\"")]
    [InlineData("id", "01")]
    [InlineData("id", "-0")]
    [InlineData("id", "-")]
    [InlineData("id", "null")]
    [InlineData("n", "2147483647")]
    [InlineData("n", "-2147483648")]
    [InlineData("n", "2147483648")]
    [InlineData("f", "1e400")]
    [InlineData("f", "-1e-400")]
    [InlineData("f", "9007199254740993")]
    [InlineData("f", "0.1e-5")]
    [InlineData("f", "-0.0")]
    [InlineData("f", "1.7976931348623157e308")]
    [InlineData("f", "4.9e-324")]
    [InlineData("f", "1.")]
    [InlineData("f", ".5")]
    [InlineData("f", "NaN")]
    [InlineData("b", "false")]
    [InlineData("b", "tru")]
    [InlineData("t", "\"2026-11-01T00:00:00Z\"")]
    [InlineData("t", "\"2026-11-01T00:00:00.123456789+05:30\"")]
    [InlineData("t", "\"2026-02-29T00:00:00Z\"")]
    [InlineData("t", "\"2026-11-01T00:00:00\"")]
    [InlineData("t", "\"2026-11-01T24:00:00Z\"")]
    [InlineData("t", "1793491200")]
    [InlineData("t", "\"2026-11-01T00:00:59.999999999Z\"")] // the base's minute: only the rest is parsed
    [InlineData("t", "\"2026-11-01T00:00:07Z\"")]
    [InlineData("t", "\"2026-11-01T00:00:60Z\"")]
    [InlineData("t", "\"2026-11-01T00:00:5xZ\"")]
    [InlineData("t", "\"2026-11-01T00:00:05.Z\"")]
    [InlineData("t", "\"2026-11-01T00:00:05.1234567890Z\"")]
    [InlineData("t", "\"2026-11-01T00:00:05.123\"")]
    [InlineData("t", "\"2026-11-01T00:00:05.123z\"")]
    [InlineData("t", "\"2026-11-01T00:00-05.123Z\"")]
    [InlineData("t", "\"2026-11-01T00:00:05.12a4Z\"")]
    [InlineData("t", "\"2026-11-01T00:00\"")]
    [InlineData("t", "\"2026-11-01T00:01:00.5Z\"")]        // the next minute
    [InlineData("t", "\"2026-11-01T00:00:00\\u002e5Z\"")]  // escaped: never the fast path
    [InlineData("d", "\"2024-02-29\"")]
    [InlineData("d", "\"2026-13-01\"")]
    [InlineData("ems", "-1")]
    [InlineData("eus", "9223372036854775807")]
    [InlineData("es", "9223372036854775807")]
    public void A_changed_value_in_the_remembered_layout_decodes_as_the_general_path_does(string field, string value) =>
        Agree(Bytes(With(field, value)));

    [Theory]
    [InlineData("\"id\": 1000000000000000001", "\"id\":  1000000000000000001")]   // more whitespace after the colon
    [InlineData("\"id\": 1000000000000000001", "\"id\":1000000000000000001")]     // less
    [InlineData("\"id\": 1000000000000000001", "\"id\" :\t1000000000000000001")]
    [InlineData(", \"i\"", " , \"i\"")]
    [InlineData(", \"i\"", ",\n\"i\"")]
    [InlineData(", \"i\"", ",\"i\"")]
    [InlineData("{\"id\"", " {\"id\"")]
    [InlineData("{\"id\"", "{ \"id\"")]
    [InlineData("}", " }")]
    [InlineData("}", "} ")]
    [InlineData("}", "} x")]
    [InlineData("}", "")]
    [InlineData("}", ",}")]
    [InlineData("\"i\"", "\"\\u0069\"")]            // escaped key
    [InlineData("\"i\"", "\"I\"")]                  // keys are case-sensitive: unknown key, i missing
    [InlineData("\"i\"", "\"id\"")]                 // duplicate key
    [InlineData("\"i\"", "\"\\u0069d\"")]           // duplicate only after unescaping
    [InlineData("\"i\"", "\"i%FF\"")]               // invalid UTF-8 in a key
    [InlineData("\"n\": 7, ", "")]                  // a nullable field missing
    [InlineData("\"id\": 1000000000000000001, ", "")] // the required field missing
    [InlineData("\"n\": 7, ", "\"n\": 7, \"extra\": {\"a\": [1, {\"b\": \"%FF\"}]}, ")] // unknown nested, invalid UTF-8 inside
    [InlineData("\"n\": 7, ", "\"n\": 7, \"extra\": {\"a\": [1, {\"b\": \"ok\"}], \"c\": null}, ")]
    [InlineData("\"n\": 7, ", "\"n\": 7, \"x\": 1, \"x\": 2, ")] // duplicate unknown keys
    [InlineData("\"n\": 7, ", "\"n\": 7, \"x\": [1,], ")]
    public void A_changed_layout_decodes_as_the_general_path_does(string from, string to)
    {
        var i = Base.IndexOf(from, StringComparison.Ordinal);
        Assert.True(i >= 0, from);
        Agree(Bytes(string.Concat(Base.AsSpan(0, i), to, Base.AsSpan(i + from.Length))));
    }

    [Fact]
    public void Reordered_keys_decode_as_the_general_path_does_and_become_the_layout()
    {
        var reordered = "{\"s\": \"x\", \"id\": 5, \"t\": \"2026-11-01T00:00:00Z\", \"f\": 2.5, \"i\": 1, \"n\": 2, \"b\": false, " +
            "\"d\": \"2026-11-01\", \"eus\": 3, \"ems\": 4, \"es\": 5}";
        Agree(Bytes(reordered));
        // The warm decoder now holds the reordered layout; the base order must still decode.
        Agree(Bytes(Base), reordered);
        Agree(Bytes(reordered.Replace("\"x\"", "\"y\"", StringComparison.Ordinal)), reordered);
    }

    [Fact]
    public void Nesting_beyond_the_limit_in_an_unknown_field_is_rejected_as_by_the_general_path()
    {
        var deep = new string('[', 64) + new string(']', 64);
        Agree(Bytes(Base.Replace("\"n\": 7, ", "\"n\": 7, \"deep\": " + deep + ", ", StringComparison.Ordinal)));
        var ok = new string('[', 62) + new string(']', 62);
        Agree(Bytes(Base.Replace("\"n\": 7, ", "\"n\": 7, \"deep\": " + ok + ", ", StringComparison.Ordinal)));
    }

    [Fact]
    public void Every_truncation_of_a_message_in_the_layout_agrees()
    {
        var json = Bytes(Base);
        for (var n = 0; n <= json.Length; n++) Agree(json[..n]);
    }

    [Fact]
    public void Every_single_byte_change_and_insertion_agrees()
    {
        var json = Bytes(Base);
        byte[] bytes = [(byte)' ', (byte)'\t', (byte)'"', (byte)'\\', (byte)',', (byte)':', (byte)'}', (byte)'{', (byte)'0', (byte)'x', 0xFF, 0xC3, 0x01];
        foreach (var b in bytes)
        {
            for (var i = 0; i < json.Length; i++)
            {
                var changed = (byte[])json.Clone();
                changed[i] = b;
                Agree(changed);
                var inserted = new byte[json.Length + 1];
                json.AsSpan(0, i).CopyTo(inserted);
                inserted[i] = b;
                json.AsSpan(i).CopyTo(inserted.AsSpan(i + 1));
                Agree(inserted);
            }
        }
    }

    [Fact]
    public void Short_messages_and_a_small_layout_agree()
    {
        const string small = "{\"id\": 1, \"s\": \"a\"}";
        foreach (var m in new[] { small, "{\"id\": 2, \"s\": \"b\"}", "{\"id\": 2}", "{\"id\": 2, \"s\": \"b\", \"i\": 3}", "{}", "[]", "", " ", "%EF%BB%BF{\"id\": 1}" })
            Agree(Bytes(m), small);
    }

    [Fact]
    public void A_stream_switching_between_layouts_with_occasional_damage_agrees_message_by_message()
    {
        var rng = new Random(5);
        string[] layouts =
        [
            "{\"id\": ID, \"i\": I, \"f\": F, \"s\": \"S\", \"t\": \"T\", \"d\": \"2026-11-01\", \"n\": null}",
            "{\"s\":\"S\",\"id\":ID,\"t\":\"T\",\"f\":F,\"i\":I,\"b\":true}",
            "{ \"id\" : ID , \"i\" : I , \"f\" : F , \"s\" : \"S\" , \"t\" : \"T\" , \"extra\" : [1, {\"a\": \"é\"}] }",
        ];
        var layout = 0;
        for (var k = 0; k < 4000; k++)
        {
            if (rng.Next(50) == 0) layout = rng.Next(layouts.Length);
            var ts = new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(k * 150_000_000L + rng.Next(10_000_000));
            var text = layouts[layout]
                .Replace("ID", rng.NextInt64(-5, long.MaxValue).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
                .Replace("I,", rng.Next(-1000, 1000).ToString(System.Globalization.CultureInfo.InvariantCulture) + ",", StringComparison.Ordinal)
                .Replace("I ", rng.Next(-1000, 1000).ToString(System.Globalization.CultureInfo.InvariantCulture) + " ", StringComparison.Ordinal)
                .Replace("F", (rng.Next(1, 1_000_000) / 100.0).ToString("R", System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
                .Replace("S", new string('x', rng.Next(0, 40)), StringComparison.Ordinal)
                .Replace("T", ts.ToString(rng.Next(3) == 0 ? "yyyy-MM-dd'T'HH:mm:ss'Z'" : "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
            var json = Encoding.UTF8.GetBytes(text);
            if (rng.Next(10) == 0) json[rng.Next(json.Length)] = (byte)" \t\"\\,:}{0x"[rng.Next(10)];
            AgreeNext(json);
        }
    }

    [Fact]
    public void A_layout_that_changes_every_message_is_learned_ever_less_often_and_a_stable_one_again()
    {
        var dec = new JsonRowDecoder(Schema(), Options());
        using var rows = new BatchBuilder(Schema(), 16, new BufferPool());
        string[] keys = ["\"id\": 1", "\"i\": 2", "\"n\": 3", "\"f\": 4.5", "\"s\": \"abcdefghijklmnopqrstuvwxyz\""];
        byte[] Rotated(int k)
        {
            // The k-th of the 120 key orders (Lehmer code).
            var left = keys.ToList();
            var order = new List<string>();
            for (var f = 24; left.Count > 0; f = left.Count > 0 ? f / Math.Max(left.Count, 1) : 1)
            {
                var i = k / f % left.Count;
                order.Add(left[i]);
                left.RemoveAt(i);
            }
            return Encoding.UTF8.GetBytes("{" + string.Join(", ", order) + "}");
        }
        Assert.Equal(120, Enumerable.Range(0, 120).Select(k => Encoding.UTF8.GetString(Rotated(k))).Distinct().Count());
        for (var k = 0; k < 200; k++)
        {
            // Every message has a key order the current layout does not have.
            rows.Truncate(0);
            Assert.True(dec.TryDecode(Rotated(k), rows, out var e), e.ToString());
        }
        // Learned at messages 0, 1, 3, 7, 15, 31, 63, 127, 191: the wait doubles up to 63 messages.
        Assert.Equal(9, dec.LayoutsLearned);
        for (var k = 0; k < 70; k++)
        {
            rows.Truncate(0);
            Assert.True(dec.TryDecode(Rotated(2), rows, out var e), e.ToString());
        }
        Assert.Equal(10, dec.LayoutsLearned); // a stable layout is learned within 64 messages, once
        rows.Truncate(0);
        Assert.True(dec.TryDecode(Rotated(3), rows, out var e3), e3.ToString());
        Assert.Equal(11, dec.LayoutsLearned); // and matching it throughout reset the wait: the next change is learned at once
    }
}
