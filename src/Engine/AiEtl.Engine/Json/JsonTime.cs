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
