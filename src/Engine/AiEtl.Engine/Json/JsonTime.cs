using System.Runtime.CompilerServices;

namespace AiEtl.Engine.Json;

/// <summary>Parses the timestamp and date text forms of the decoding contract (ASCII bytes, no allocation).</summary>
internal static class JsonTime
{
    public const long MicrosPerSecond = 1_000_000;

    /// <summary>
    /// <c>YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)</c> to microseconds since the epoch, UTC. Fraction digits
    /// beyond the sixth are truncated. Returns null on success or a description of the problem.
    /// </summary>
    public static string? TryParseTimestamp(ReadOnlySpan<byte> s, out long micros)
    {
        micros = 0;
        if (s.Length < 19)
            return s.Length == 10 && ParseDateCore(s, out _) is null
                ? "timestamp has no time of day (expected YYYY-MM-DDTHH:MM:SS with a zone)"
                : "malformed timestamp (expected YYYY-MM-DDTHH:MM:SS[.f] with Z or ±HH:MM)";
        var err = ParseDateCore(s, out var days);
        if (err != null) return err;
        if (s[10] != (byte)'T')
            return "malformed timestamp: expected 'T' between date and time";
        if (!Two(s, 11, out var hh) || s[13] != (byte)':' || !Two(s, 14, out var mi) || s[16] != (byte)':' || !Two(s, 17, out var ss))
            return "malformed timestamp: expected HH:MM:SS";
        if (hh > 23 || mi > 59 || ss > 59)
            return "impossible time of day";
        var i = 19;
        long frac = 0;
        if (i < s.Length && s[i] == (byte)'.')
        {
            i++;
            var digits = 0;
            while (i < s.Length && IsDigit(s[i]))
            {
                if (digits < 6) frac = frac * 10 + (s[i] - '0');
                digits++;
                i++;
            }
            if (digits == 0) return "malformed timestamp: expected digits after '.'";
            if (digits > 9) return "timestamp has more than 9 fraction digits";
            for (var k = digits; k < 6; k++) frac *= 10;
        }
        if (i >= s.Length) return "timestamp has no zone (expected Z or ±HH:MM)";
        var offsetSeconds = 0;
        var z = s[i];
        if (z == (byte)'Z')
        {
            i++;
        }
        else if (z == (byte)'+' || z == (byte)'-')
        {
            if (s.Length - i < 6 || !Two(s, i + 1, out var oh) || s[i + 3] != (byte)':' || !Two(s, i + 4, out var om))
                return "malformed zone offset (expected ±HH:MM)";
            if (oh > 23 || om > 59) return "impossible zone offset";
            offsetSeconds = (oh * 3600 + om * 60) * (z == (byte)'-' ? -1 : 1);
            i += 6;
        }
        else
        {
            return "timestamp has no zone (expected Z or ±HH:MM)";
        }
        if (i != s.Length) return "unexpected characters after the timestamp";
        var seconds = days * 86400L + hh * 3600 + mi * 60 + ss - offsetSeconds;
        micros = seconds * MicrosPerSecond + frac;
        return null;
    }

    /// <summary>
    /// Fast path for the common form <c>YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z</c>: true with the same value as
    /// <see cref="TryParseTimestamp"/>; false for anything else (a zone offset, or any problem), which the
    /// caller then hands to <see cref="TryParseTimestamp"/> for the value or the precise error.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe bool TryParseUtcTimestampFast(byte* s, int length, out long micros) =>
        TryParseUtcTimestampFast(s, length, out micros, out _);

    /// <summary>
    /// As <see cref="TryParseUtcTimestampFast(byte*, int, out long)"/>, also giving the seconds since the epoch
    /// of the timestamp's minute (its first 16 bytes, <c>YYYY-MM-DDTHH:MM</c>), so a caller can reuse them for
    /// the next timestamp that starts with the same 16 bytes (<see cref="TryParseUtcTail"/>).
    /// </summary>
    public static unsafe bool TryParseUtcTimestampFast(byte* s, int length, out long micros, out long minuteSeconds)
    {
        micros = 0;
        minuteSeconds = 0;
        if (length < 20 || s[length - 1] != (byte)'Z') return false;
        if (s[4] != (byte)'-' || s[7] != (byte)'-' || s[10] != (byte)'T' || s[13] != (byte)':') return false;
        uint y0 = (uint)(s[0] - '0'), y1 = (uint)(s[1] - '0'), y2 = (uint)(s[2] - '0'), y3 = (uint)(s[3] - '0');
        uint m0 = (uint)(s[5] - '0'), m1 = (uint)(s[6] - '0'), d0 = (uint)(s[8] - '0'), d1 = (uint)(s[9] - '0');
        uint h0 = (uint)(s[11] - '0'), h1 = (uint)(s[12] - '0'), i0 = (uint)(s[14] - '0'), i1 = (uint)(s[15] - '0');
        if (y0 > 9 || y1 > 9 || y2 > 9 || y3 > 9 || m0 > 9 || m1 > 9 || d0 > 9 || d1 > 9 || h0 > 9 || h1 > 9 || i0 > 9 || i1 > 9)
            return false;
        var y = (int)(y0 * 1000 + y1 * 100 + y2 * 10 + y3);
        var mo = (int)(m0 * 10 + m1);
        var d = (int)(d0 * 10 + d1);
        var hh = (int)(h0 * 10 + h1);
        var mi = (int)(i0 * 10 + i1);
        if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo) || hh > 23 || mi > 59) return false;
        if (!TryParseUtcTail(s, length, out var tail)) return false;
        minuteSeconds = DaysFromCivil(y, mo, d) * 86400L + hh * 3600 + mi * 60;
        micros = minuteSeconds * MicrosPerSecond + tail;
        return true;
    }

    /// <summary>
    /// The rest of a UTC timestamp after its minute, <c>:SS[.f{1,9}]Z</c> from byte 16 of <paramref name="s"/>
    /// (<paramref name="length"/> is the whole timestamp's), as microseconds within the minute.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe bool TryParseUtcTail(byte* s, int length, out long micros)
    {
        micros = 0;
        if (length < 20 || s[16] != (byte)':' || s[length - 1] != (byte)'Z') return false;
        uint s0 = (uint)(s[17] - '0'), s1 = (uint)(s[18] - '0');
        if (s0 > 5 || s1 > 9) return false;
        long frac = 0;
        if (length > 20)
        {
            if (s[19] != (byte)'.') return false;
            var digits = length - 21;
            if (digits is < 1 or > 9) return false;
            for (var i = 20; i < length - 1; i++)
                if ((uint)(s[i] - '0') > 9) return false;
            frac = Fraction(s + 20, digits);
        }
        micros = (s0 * 10 + s1) * MicrosPerSecond + frac;
        return true;
    }

    /// <summary>Microseconds of 1–9 validated fraction digits (beyond the sixth truncated).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe long Fraction(byte* f, int digits)
    {
        long frac = 0;
        var n = Math.Min(digits, 6);
        for (var k = 0; k < n; k++) frac = frac * 10 + (f[k] - '0');
        for (var k = n; k < 6; k++) frac *= 10;
        return frac;
    }

    /// <summary><c>YYYY-MM-DD</c> to days since the epoch. Returns null on success or a description.</summary>
    public static string? TryParseDate(ReadOnlySpan<byte> s, out int days)
    {
        days = 0;
        if (s.Length != 10)
            return s.Length > 10 && ParseDateCore(s, out _) is null
                ? "unexpected characters after the date (expected YYYY-MM-DD)"
                : "malformed date (expected YYYY-MM-DD)";
        return ParseDateCore(s, out days);
    }

    private static string? ParseDateCore(ReadOnlySpan<byte> s, out int days)
    {
        days = 0;
        if (s.Length < 10 || !Two(s, 0, out var y1) || !Two(s, 2, out var y2) || s[4] != (byte)'-'
            || !Two(s, 5, out var mo) || s[7] != (byte)'-' || !Two(s, 8, out var d))
            return "malformed date (expected YYYY-MM-DD)";
        var y = y1 * 100 + y2;
        if (y < 1) return "impossible date: year 0000";
        if (mo < 1 || mo > 12) return "impossible date: month out of range";
        if (d < 1 || d > DaysInMonth(y, mo)) return "impossible date: day out of range";
        days = DaysFromCivil(y, mo, d);
        return null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsDigit(byte b) => (uint)(b - '0') <= 9;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Two(ReadOnlySpan<byte> s, int i, out int v)
    {
        var a = (uint)(s[i] - '0');
        var b = (uint)(s[i + 1] - '0');
        v = (int)(a * 10 + b);
        return a <= 9 && b <= 9;
    }

    public static int DaysInMonth(int y, int m) => m switch
    {
        2 => (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28,
        4 or 6 or 9 or 11 => 30,
        _ => 31,
    };

    /// <summary>Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).</summary>
    public static int DaysFromCivil(int y, int m, int d)
    {
        y -= m <= 2 ? 1 : 0;
        var era = (y >= 0 ? y : y - 399) / 400;
        var yoe = y - era * 400;
        var doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        var doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
    }
}
