using System.Text.RegularExpressions;

namespace AiEtl.Engine.Spec;

/// <summary>Name rules of specs.</summary>
public static partial class SpecNaming
{
    public const int MaxNameLength = 128;

    public const string PipelineRule = "use letters, digits, '_', '.' and '-', starting with a letter or digit (at most 128 characters)";
    public const string ConnectorRule = "use letters, digits and '_', not starting with a digit (source names are SQL table names)";
    public const string ColumnRule = "a column name must not be empty, start or end with a space, or hold control characters";

    /// <summary><c>[A-Za-z0-9][A-Za-z0-9_.-]*</c>, at most <see cref="MaxNameLength"/> characters.</summary>
    public static bool IsPipelineName(string name) => name.Length <= MaxNameLength && PipelineName().IsMatch(name);

    /// <summary>Names of sources and sinks: <c>[A-Za-z_][A-Za-z0-9_]*</c>.</summary>
    public static bool IsConnectorName(string name) => name.Length <= MaxNameLength && ConnectorName().IsMatch(name);

    /// <summary>Column names are free text (input keys) without control characters or surrounding spaces.</summary>
    public static bool IsColumnName(string name) =>
        name.Length > 0 && name.Trim() == name && !name.Any(char.IsControl);

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.-]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex PipelineName();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex ConnectorName();
}
