namespace AiEtl.Engine.Json;

/// <summary>How a timestamp column is written in JSON.</summary>
public enum JsonTimeFormat : byte
{
    /// <summary>A string <c>YYYY-MM-DDTHH:MM:SS[.f…]</c> with <c>Z</c> or <c>±HH:MM</c> (the default).</summary>
    Iso,
    /// <summary>An integer JSON number of seconds since the Unix epoch.</summary>
    EpochSeconds,
    /// <summary>An integer JSON number of milliseconds since the Unix epoch.</summary>
    EpochMillis,
    /// <summary>An integer JSON number of microseconds since the Unix epoch.</summary>
    EpochMicros,
}

/// <summary>Spec names of <see cref="JsonTimeFormat"/> (<c>iso</c>, <c>epoch_s</c>, <c>epoch_ms</c>, <c>epoch_us</c>).</summary>
public static class JsonTimeFormats
{
    public static bool TryParse(string? name, out JsonTimeFormat format)
    {
        switch (name)
        {
            case null or "iso": format = JsonTimeFormat.Iso; return true;
            case "epoch_s": format = JsonTimeFormat.EpochSeconds; return true;
            case "epoch_ms": format = JsonTimeFormat.EpochMillis; return true;
            case "epoch_us": format = JsonTimeFormat.EpochMicros; return true;
            default: format = default; return false;
        }
    }

    public static string Name(JsonTimeFormat format) => format switch
    {
        JsonTimeFormat.Iso => "iso",
        JsonTimeFormat.EpochSeconds => "epoch_s",
        JsonTimeFormat.EpochMillis => "epoch_ms",
        JsonTimeFormat.EpochMicros => "epoch_us",
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };
}

/// <summary>Per-column decoding options.</summary>
/// <param name="Required">The key must be present and not <c>null</c> (a non-nullable Arrow field is required too).</param>
/// <param name="TimeFormat">For timestamp columns only: how the value is written.</param>
public sealed record JsonColumnOptions(bool Required = false, JsonTimeFormat TimeFormat = JsonTimeFormat.Iso);
