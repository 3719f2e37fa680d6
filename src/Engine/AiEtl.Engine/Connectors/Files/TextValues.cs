using System.Buffers.Text;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>
/// Strict parsing and formatting of scalar values as UTF-8 text (CSV fields, JSON-lines output, console).
/// Parsers never trim and never allocate; they return false on anything they do not accept.
/// </summary>
internal static class TextValues
{
    public const long MicrosPerSecond = 1_000_000;
    public const long MicrosPerDay = 86_400_000_000;

    /// <summary>Optional '-', then 1+ ASCII digits; exact (no float path), overflow rejected.</summary>
    public static bool TryParseInt64(ReadOnlySpan<byte> s, out long value)
    {
        value = 0;
        if (s.IsEmpty) return false;
        var neg = s[0] == (byte)'-';
        var i = neg ? 1 : 0;
        if (i == s.Length) return false;
        ulong acc = 0;
        const ulong limit = (ulong)long.MaxValue + 1;
        for (; i < s.Length; i++)
        {
            var d = (uint)(s[i] - '0');
            if (d > 9) return false;
            if (acc > (limit - d) / 10) return false;
            acc = acc * 10 + d;
        }
        if (neg)
        {
            if (acc > limit) return false;
            value = unchecked(-(long)acc);
        }
        else
        {
            if (acc > long.MaxValue) return false;
            value = (long)acc;
        }
        return true;
    }

    public static bool TryParseInt32(ReadOnlySpan<byte> s, out int value)
    {
        if (TryParseInt64(s, out var v) && v is >= int.MinValue and <= int.MaxValue)
        {
            value = (int)v;
            return true;
        }
        value = 0;
        return false;
    }

    /// <summary>
    /// Decimal or exponent form, correctly rounded; the literals <c>NaN</c>, <c>Infinity</c> and
    /// <c>-Infinity</c> (as the sinks write them) are accepted; overflow such as <c>1e400</c> is not.
    /// </summary>
    public static bool TryParseDouble(ReadOnlySpan<byte> s, out double value)
    {
        if (s.SequenceEqual("NaN"u8)) { value = double.NaN; return true; }
        if (s.SequenceEqual("Infinity"u8)) { value = double.PositiveInfinity; return true; }
        if (s.SequenceEqual("-Infinity"u8)) { value = double.NegativeInfinity; return true; }
        if (s.IsEmpty || !IsAsciiNumberStart(s[0]) || ((uint)(s[^1] - '0') > 9 && s[^1] != '.'))
        {
            value = 0;
            return false;
        }
        return double.TryParse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
                   CultureInfo.InvariantCulture, out value)
               && double.IsFinite(value);
    }

    private static bool IsAsciiNumberStart(byte b) => b is (>= (byte)'0' and <= (byte)'9') or (byte)'-' or (byte)'+' or (byte)'.';

    /// <summary><c>true</c>/<c>false</c> in any letter case, or <c>1</c>/<c>0</c>.</summary>
    public static bool TryParseBool(ReadOnlySpan<byte> s, out bool value)
    {
        if (s.Length == 1)
        {
            value = s[0] == '1';
            return s[0] is (byte)'0' or (byte)'1';
        }
        if (Ascii.EqualsIgnoreCase(s, "true"u8)) { value = true; return true; }
        if (Ascii.EqualsIgnoreCase(s, "false"u8)) { value = false; return true; }
        value = false;
        return false;
    }

    public static bool TryParseTimestamp(ReadOnlySpan<byte> s, TimeFormat format, out long micros)
    {
        switch (format)
        {
            case TimeFormat.Iso8601:
                return TryParseIso8601(s, out micros);
            case TimeFormat.EpochSeconds:
                return TryParseEpoch(s, MicrosPerSecond, 1, out micros);
            case TimeFormat.EpochMillis:
                return TryParseEpoch(s, 1000, 1, out micros);
            case TimeFormat.EpochMicros:
                return TryParseInt64(s, out micros);
            case TimeFormat.EpochNanos:
                return TryParseEpoch(s, 1, 1000, out micros);
            default:
                micros = 0;
                return false;
        }
    }

    private static bool TryParseEpoch(ReadOnlySpan<byte> s, long multiply, long divide, out long micros)
    {
        micros = 0;
        if (!TryParseInt64(s, out var v)) return false;
        if (divide > 1)
        {
            // Truncate toward negative infinity so that ns → µs agrees with the ISO fraction rule.
            micros = v / divide - (v % divide < 0 ? 1 : 0);
            return true;
        }
        try
        {
            micros = checked(v * multiply);
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    /// <summary><c>YYYY-MM-DD</c>, a real calendar date (the decoding contract's rule, shared with JSON).</summary>
    public static bool TryParseDate(ReadOnlySpan<byte> s, out int days) => Json.JsonTime.TryParseDate(s, out days) is null;

    /// <summary>
    /// <c>YYYY-MM-DDTHH:MM:SS[.f…]</c> (1–9 fraction digits, beyond 6 truncated) then <c>Z</c> or <c>±HH:MM</c>;
    /// converted to UTC microseconds. No zone, an impossible date or time → false. One parser for every
    /// text input: the JSON decoder's.
    /// </summary>
    public static bool TryParseIso8601(ReadOnlySpan<byte> s, out long micros) => Json.JsonTime.TryParseTimestamp(s, out micros) is null;

    public static void CivilFromDays(long z, out long y, out int m, out int d)
    {
        z += 719468;
        var era = (z >= 0 ? z : z - 146096) / 146097;
        var doe = z - era * 146097;
        var yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        y = yoe + era * 400;
        var doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        var mp = (5 * doy + 2) / 153;
        d = (int)(doy - (153 * mp + 2) / 5 + 1);
        m = (int)(mp < 10 ? mp + 3 : mp - 9);
        if (m <= 2) y++;
    }

    /// <summary>Longest output of <see cref="WriteTimestamp"/>.</summary>
    public const int MaxTimestampLength = 40;

    /// <summary>
    /// <c>YYYY-MM-DDTHH:MM:SS.ffffffZ</c>; years outside 0000–9999 are written in ISO 8601's expanded form
    /// with a sign (e.g. <c>+12345-…</c>, <c>-0001-…</c>).
    /// </summary>
    public static int WriteTimestamp(Span<byte> dst, long micros)
    {
        var days = Math.DivRem(micros, MicrosPerDay, out var rem);
        if (rem < 0) { days--; rem += MicrosPerDay; }
        var n = WriteDate(dst, days);
        var secs = rem / MicrosPerSecond;
        var frac = (int)(rem % MicrosPerSecond);
        dst[n++] = (byte)'T';
        Two(dst, n, (int)(secs / 3600)); n += 2;
        dst[n++] = (byte)':';
        Two(dst, n, (int)(secs / 60 % 60)); n += 2;
        dst[n++] = (byte)':';
        Two(dst, n, (int)(secs % 60)); n += 2;
        dst[n++] = (byte)'.';
        for (var k = 5; k >= 0; k--)
        {
            dst[n + k] = (byte)('0' + frac % 10);
            frac /= 10;
        }
        n += 6;
        dst[n++] = (byte)'Z';
        return n;
    }

    /// <summary><c>YYYY-MM-DD</c> (expanded signed year outside 0000–9999).</summary>
    public static int WriteDate(Span<byte> dst, long days)
    {
        CivilFromDays(days, out var y, out var m, out var d);
        var n = 0;
        if (y is >= 0 and <= 9999)
        {
            var yi = (int)y;
            Two(dst, 0, yi / 100);
            Two(dst, 2, yi % 100);
            n = 4;
        }
        else
        {
            dst[n++] = y < 0 ? (byte)'-' : (byte)'+';
            var ay = Math.Abs(y);
            if (ay < 1000)
            {
                Two(dst, n, (int)(ay / 100));
                Two(dst, n + 2, (int)(ay % 100));
                n += 4;
            }
            else
            {
                Utf8Formatter.TryFormat(ay, dst[n..], out var w);
                n += w;
            }
        }
        dst[n++] = (byte)'-';
        Two(dst, n, m); n += 2;
        dst[n++] = (byte)'-';
        Two(dst, n, d); n += 2;
        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Two(Span<byte> dst, int at, int v)
    {
        dst[at] = (byte)('0' + v / 10);
        dst[at + 1] = (byte)('0' + v % 10);
    }

    /// <summary>
    /// Shortest round-trip form (<c>"R"</c>-equivalent). Non-finite values are written as the bare words
    /// <c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>; JSON callers quote them.
    /// </summary>
    public static int WriteDouble(Span<byte> dst, double v)
    {
        v.TryFormat(dst, out var n, default, CultureInfo.InvariantCulture);
        return n;
    }

    public const int MaxDoubleLength = 32;
}
