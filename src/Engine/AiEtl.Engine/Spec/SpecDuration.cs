using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace AiEtl.Engine.Spec;

/// <summary>
/// Durations as written in specs: whole numbers with units <c>d h m s ms</c>, largest first, each at
/// most once: <c>250ms</c>, <c>10s</c>, <c>5m</c>, <c>1h</c>, <c>1d</c>, <c>1m30s</c>.
/// </summary>
public static partial class SpecDuration
{
    /// <summary>Parses a duration; on failure <paramref name="error"/> says why.</summary>
    public static bool TryParse(string text, out TimeSpan value, out string? error)
    {
        value = default;
        error = null;
        var m = Pattern().Match(text);
        if (text.Length == 0 || !m.Success)
        {
            error = long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _)
                ? $"'{text}' has no unit; write e.g. '{text}s' or '{text}ms'"
                : $"'{text}' is not a duration; use a whole number with a unit, largest first: 250ms, 10s, 5m, 1h, 1d, 1m30s";
            return false;
        }
        ReadOnlySpan<long> ticksPerUnit = [TimeSpan.TicksPerDay, TimeSpan.TicksPerHour, TimeSpan.TicksPerMinute, TimeSpan.TicksPerSecond, TimeSpan.TicksPerMillisecond];
        long ticks = 0;
        for (var i = 0; i < ticksPerUnit.Length; i++)
        {
            var g = m.Groups[i + 1];
            if (!g.Success) continue;
            if (!long.TryParse(g.ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
                || n > TimeSpan.MaxValue.Ticks / ticksPerUnit[i]
                || ticks > TimeSpan.MaxValue.Ticks - n * ticksPerUnit[i])
            {
                error = $"'{text}' is too long a duration";
                return false;
            }
            ticks += n * ticksPerUnit[i];
        }
        value = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>The spec spelling of a duration (sub-millisecond parts are dropped): 90 s → <c>1m30s</c>.</summary>
    public static string Format(TimeSpan value)
    {
        if (value < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(value), "durations are not negative");
        var ms = value.Ticks / TimeSpan.TicksPerMillisecond;
        if (ms == 0) return "0s";
        var sb = new StringBuilder();
        Append(ref ms, 86_400_000, "d");
        Append(ref ms, 3_600_000, "h");
        Append(ref ms, 60_000, "m");
        Append(ref ms, 1_000, "s");
        Append(ref ms, 1, "ms");
        return sb.ToString();

        void Append(ref long rest, long unit, string suffix)
        {
            if (rest < unit) return;
            sb.Append(CultureInfo.InvariantCulture, $"{rest / unit}{suffix}");
            rest %= unit;
        }
    }

    [GeneratedRegex(@"^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m(?!s))?(?:([0-9]+)s)?(?:([0-9]+)ms)?\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
