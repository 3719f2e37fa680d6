using System.Text;
using AiEtl.Engine.Connectors.Files;
using AiEtl.Engine.Tests.Support;

namespace AiEtl.Engine.Tests.Files;

public sealed class TextValuesAndGlobTests
{
    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("-0", 0L)]
    [InlineData("007", 7L)]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("-9223372036854775808", long.MinValue)]
    public void Integers_parse_exactly(string text, long expected)
    {
        Assert.True(TextValues.TryParseInt64(U(text), out var v));
        Assert.Equal(expected, v);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData("+1")]
    [InlineData(" 1")]
    [InlineData("1.0")]
    [InlineData("1e3")]
    [InlineData("9223372036854775808")]
    [InlineData("-9223372036854775809")]
    [InlineData("99999999999999999999")]
    public void Integers_reject_anything_else(string text) => Assert.False(TextValues.TryParseInt64(U(text), out _));

    [Theory]
    [InlineData("2147483648")]
    [InlineData("-2147483649")]
    public void Int32_rejects_out_of_range(string text) => Assert.False(TextValues.TryParseInt32(U(text), out _));

    [Theory]
    [InlineData("0.1", 0.1)]
    [InlineData("-1.5e-3", -0.0015)]
    [InlineData(".5", 0.5)]
    [InlineData("1E+20", 1e20)]
    [InlineData("Infinity", double.PositiveInfinity)]
    [InlineData("-Infinity", double.NegativeInfinity)]
    public void Floats_parse_correctly_rounded(string text, double expected)
    {
        Assert.True(TextValues.TryParseDouble(U(text), out var v));
        Assert.Equal(expected, v);
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("nan")]
    [InlineData("inf")]
    [InlineData(" 1")]
    [InlineData("1 ")]
    [InlineData("1,5")]
    [InlineData("")]
    public void Floats_reject_overflow_and_other_text(string text) => Assert.False(TextValues.TryParseDouble(U(text), out _));

    [Theory]
    [InlineData("2024-01-01T00:00:00Z", 1_704_067_200_000_000L)]
    [InlineData("2024-01-01T00:00:00.1Z", 1_704_067_200_100_000L)]
    [InlineData("2024-01-01T00:00:00.123456789Z", 1_704_067_200_123_456L)]
    [InlineData("2024-01-01T01:30:00+01:30", 1_704_067_200_000_000L)]
    [InlineData("2023-12-31T23:00:00-01:00", 1_704_067_200_000_000L)]
    [InlineData("0001-01-01T00:00:00Z", -62_135_596_800_000_000L)]
    [InlineData("2000-02-29T23:59:59.999999Z", 951_868_799_999_999L)]
    public void Iso_timestamps_convert_to_utc_microseconds(string text, long micros)
    {
        Assert.True(TextValues.TryParseIso8601(U(text), out var v));
        Assert.Equal(micros, v);
        Span<byte> buf = stackalloc byte[TextValues.MaxTimestampLength];
        var n = TextValues.WriteTimestamp(buf, v);
        Assert.True(TextValues.TryParseIso8601(buf[..n], out var again));
        Assert.Equal(v, again);
    }

    [Theory]
    [InlineData("2024-01-01T00:00:00")]
    [InlineData("2024-01-01 00:00:00Z")]
    [InlineData("2024-01-01T00:00:00z")]
    [InlineData("2024-01-01T00:00:00.Z")]
    [InlineData("2024-01-01T00:00:00.1234567890Z")]
    [InlineData("2023-02-29T00:00:00Z")]
    [InlineData("2024-13-01T00:00:00Z")]
    [InlineData("2024-01-01T24:00:00Z")]
    [InlineData("2024-01-01T00:00:60Z")]
    [InlineData("2024-01-01T00:00:00+0100")]
    [InlineData("2024-01-01T00:00:00+24:00")]
    [InlineData("1704067200")]
    public void Iso_timestamps_reject_missing_zones_and_impossible_values(string text) =>
        Assert.False(TextValues.TryParseIso8601(U(text), out _));

    [Theory]
    [InlineData(TimeFormat.EpochSeconds, "-2", -2_000_000L)]
    [InlineData(TimeFormat.EpochMillis, "1700000000123", 1_700_000_000_123_000L)]
    [InlineData(TimeFormat.EpochMicros, "5", 5L)]
    [InlineData(TimeFormat.EpochNanos, "1999", 1L)]
    [InlineData(TimeFormat.EpochNanos, "-1", -1L)]
    public void Epoch_formats_scale_to_microseconds(TimeFormat format, string text, long micros)
    {
        Assert.True(TextValues.TryParseTimestamp(U(text), format, out var v));
        Assert.Equal(micros, v);
    }

    [Fact]
    public void Epoch_seconds_overflow_is_rejected() =>
        Assert.False(TextValues.TryParseTimestamp(U("9223372036854775807"), TimeFormat.EpochSeconds, out _));

    [Fact]
    public void Dates_outside_four_digit_years_use_expanded_form()
    {
        Span<byte> buf = stackalloc byte[TextValues.MaxTimestampLength];
        var n = TextValues.WriteDate(buf, AiEtl.Engine.Json.JsonTime.DaysFromCivil(12345, 6, 7));
        Assert.Equal("+12345-06-07", Encoding.UTF8.GetString(buf[..n]));
        n = TextValues.WriteDate(buf, AiEtl.Engine.Json.JsonTime.DaysFromCivil(-1, 1, 1));
        Assert.Equal("-0001-01-01", Encoding.UTF8.GetString(buf[..n]));
        n = TextValues.WriteTimestamp(buf, long.MinValue);
        Assert.Equal("-290308-12-21T19:59:05.224192Z", Encoding.UTF8.GetString(buf[..n]));
    }

    [Fact]
    public void Glob_expands_star_question_mark_and_double_star_in_sorted_order()
    {
        using var dir = new TempDir();
        foreach (var f in new[] { "a/1.csv", "a/2.csv", "a/10.csv", "a/x.txt", "a/b/3.csv", "a/b/c/4.csv", "z.csv" }) dir.Write(f, "");
        Assert.Equal(["a/1.csv", "a/10.csv", "a/2.csv"], Rel(dir, FileGlob.Expand(dir.File("a/*.csv"))));
        Assert.Equal(["a/1.csv", "a/2.csv"], Rel(dir, FileGlob.Expand(dir.File("a/?.csv"))));
        Assert.Equal(["a/1.csv", "a/10.csv", "a/2.csv", "a/b/3.csv", "a/b/c/4.csv"], Rel(dir, FileGlob.Expand(dir.File("a/**/*.csv"))));
        Assert.Equal(["a/b/3.csv"], Rel(dir, FileGlob.Expand(dir.File("*/b/*.csv"))));
        Assert.Equal(["z.csv"], Rel(dir, FileGlob.Expand(dir.File("z.csv"))));
        Assert.Empty(FileGlob.Expand(dir.File("missing.csv")));
        Assert.Empty(FileGlob.Expand(dir.File("nope/*.csv")));
    }

    private static string[] Rel(TempDir dir, IReadOnlyList<string> files) =>
        [.. files.Select(f => Path.GetRelativePath(dir.Path, f).Replace('\\', '/'))];
}
