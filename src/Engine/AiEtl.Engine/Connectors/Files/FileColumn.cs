using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>How a timestamp column is written in a text file.</summary>
public enum TimeFormat : byte
{
    /// <summary><c>YYYY-MM-DDTHH:MM:SS[.f…]</c> with <c>Z</c> or <c>±HH:MM</c> (1–9 fraction digits, truncated to µs).</summary>
    Iso8601,
    /// <summary>Integer seconds since the Unix epoch (<c>epoch_s</c>).</summary>
    EpochSeconds,
    /// <summary>Integer milliseconds since the Unix epoch (<c>epoch_ms</c>).</summary>
    EpochMillis,
    /// <summary>Integer microseconds since the Unix epoch (<c>epoch_us</c>).</summary>
    EpochMicros,
    /// <summary>Integer nanoseconds since the Unix epoch (<c>epoch_ns</c>), truncated to µs.</summary>
    EpochNanos,
}

/// <summary>
/// One column of a declared file schema. <paramref name="Required"/> columns must be present and non-null
/// (otherwise the row is a dead letter); <paramref name="TimeFormat"/> applies to timestamp columns only.
/// </summary>
public sealed record FileColumn(string Name, ColumnKind Kind, bool Required = false, TimeFormat TimeFormat = TimeFormat.Iso8601)
{
    /// <summary>Spec names of <see cref="Files.TimeFormat"/>: <c>iso8601</c>, <c>epoch_s</c>, <c>epoch_ms</c>, <c>epoch_us</c>, <c>epoch_ns</c>.</summary>
    public static bool TryParseTimeFormat(string name, out TimeFormat format)
    {
        switch (name)
        {
            case "iso8601": format = TimeFormat.Iso8601; return true;
            case "epoch_s": format = TimeFormat.EpochSeconds; return true;
            case "epoch_ms": format = TimeFormat.EpochMillis; return true;
            case "epoch_us": format = TimeFormat.EpochMicros; return true;
            case "epoch_ns": format = TimeFormat.EpochNanos; return true;
            default: format = default; return false;
        }
    }

    /// <summary>The Arrow schema of declared columns (required columns are non-nullable fields).</summary>
    public static Schema ToSchema(IReadOnlyList<FileColumn> columns)
    {
        var b = new Schema.Builder();
        foreach (var c in columns) b.Field(ColumnTypes.Field(c.Name, c.Kind, nullable: !c.Required));
        return b.Build();
    }

    internal static void Validate(IReadOnlyList<FileColumn>? columns, List<string> problems)
    {
        if (columns == null || columns.Count == 0)
        {
            problems.Add("schema: at least one column must be declared");
            return;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < columns.Count; i++)
        {
            var c = columns[i];
            if (string.IsNullOrEmpty(c.Name)) problems.Add($"schema[{i}]: column name is empty");
            else if (!seen.Add(c.Name)) problems.Add($"schema.{c.Name}: declared twice");
            if (!Enum.IsDefined(c.Kind)) problems.Add($"schema.{c.Name}: unknown type {c.Kind}");
            if (c.TimeFormat != TimeFormat.Iso8601 && c.Kind != ColumnKind.Timestamp)
                problems.Add($"schema.{c.Name}: a time format applies to timestamp columns only (column is {ColumnTypes.Name(c.Kind)})");
        }
    }
}
