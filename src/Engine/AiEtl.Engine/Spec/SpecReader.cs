using System.Globalization;
using System.Text.RegularExpressions;
using AiEtl.Engine.Columns;

namespace AiEtl.Engine.Spec;

/// <summary>Collects every problem while typed values are read from the YAML tree.</summary>
internal sealed partial class SpecContext
{
    public List<SpecError> Errors { get; } = [];

    public void Error(YNode node, string path, string message) => Error(node.Start, path, message);

    public void Error(TextPosition at, string path, string message) => Errors.Add(new SpecError(path, at.Line, at.Column, message));

    /// <summary>Path of a key below <paramref name="path"/>; keys that are not plain names are quoted.</summary>
    public static string Child(string path, string key)
    {
        var k = PlainKey().IsMatch(key) ? key : "[\"" + key.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"]";
        if (path.Length == 0) return k;
        return k.StartsWith('[') ? path + k : path + "." + k;
    }

    public static string Item(string path, int index) => $"{path}[{index}]";

    /// <summary>How a node reads in a message: <c>a list</c>, <c>an integer (5)</c>, <c>a string ("x")</c>.</summary>
    public static string Describe(YNode node) => node switch
    {
        YMapping => "a mapping",
        YSequence => "a list",
        YScalar { Kind: ScalarKind.Null } => "nothing (null)",
        YScalar { Kind: ScalarKind.Bool } s => $"a boolean ({s.Value})",
        YScalar { Kind: ScalarKind.Int } s => $"an integer ({s.Value})",
        YScalar { Kind: ScalarKind.Float } s => $"a number ({s.Value})",
        YScalar s => $"a string (\"{Shorten(s.Value)}\")",
        _ => "a node",
    };

    private static string Shorten(string s)
    {
        var firstLine = s.Split('\n')[0];
        return firstLine.Length > 40 ? firstLine[..40] + "…" : firstLine + (firstLine.Length < s.TrimEnd('\n').Length ? "…" : "");
    }

    public YMapping? Mapping(YNode node, string path, string what, bool nullIsEmpty = false)
    {
        if (node is YMapping m) return m;
        if (nullIsEmpty && node is YScalar { IsNull: true }) return new YMapping(node.Start);
        Error(node, path, $"{what} must be a mapping, got {Describe(node)}");
        return null;
    }

    public YSequence? Sequence(YNode node, string path, string what)
    {
        if (node is YSequence s) return s;
        Error(node, path, $"{what} must be a list, got {Describe(node)}");
        return null;
    }

    public string? String(YNode node, string path, bool allowEmpty = false)
    {
        // An interpolated value is text whatever it looks like (a numeric password stays a string).
        if (node is not YScalar { Kind: ScalarKind.String } and not YScalar { IsInterpolated: true } || node is not YScalar s)
        {
            if (SecretRedactor.IsSecretKey(path[(path.LastIndexOfAny(['.', '[']) + 1)..]))
            {
                // A secret field: say what is wrong without quoting the value.
                Error(node, path, $"expected a string (quote the value), got {(node is YScalar ? "another kind of scalar" : Describe(node))}");
                return null;
            }
            var hint = node is YScalar { Kind: ScalarKind.Int or ScalarKind.Float or ScalarKind.Bool } v ? $" (quote it: \"{v.Value}\")" : "";
            Error(node, path, $"expected a string, got {Describe(node)}{hint}");
            return null;
        }
        if (!allowEmpty && s.Value.Trim().Length == 0)
        {
            Error(node, path, "must not be empty");
            return null;
        }
        return s.Value;
    }

    public long? Int64(YNode node, string path, long min, long max)
    {
        if (node is not YScalar s || !s.TryGetInt64(out var v))
        {
            var hint = node is YScalar { Kind: ScalarKind.String } str && str.Value.Contains('_', StringComparison.Ordinal) && long.TryParse(str.Value.Replace("_", "", StringComparison.Ordinal), CultureInfo.InvariantCulture, out var u)
                ? $" (write {u.ToString(CultureInfo.InvariantCulture)})"
                : "";
            Error(node, path, $"expected an integer, got {Describe(node)}{hint}");
            return null;
        }
        if (v < min || v > max)
        {
            var unbounded = max is long.MaxValue or int.MaxValue;
            var rule = (min, unbounded) switch
            {
                (1, true) => "must be a positive integer",
                (0, true) => "must not be negative",
                (_, true) => $"must be at least {min}",
                _ when v > max => $"must be at most {max}",
                (1, false) => $"must be a positive integer (at most {max})",
                _ => $"must be between {min} and {max}",
            };
            Error(node, path, $"{rule}, got {s.Value}");
            return null;
        }
        return v;
    }

    public bool? Bool(YNode node, string path)
    {
        if (node is YScalar s && s.TryGetBool(out var b)) return b;
        Error(node, path, $"expected true or false, got {Describe(node)}");
        return null;
    }

    public TimeSpan? Duration(YNode node, string path, bool allowZero)
    {
        if (node is not YScalar { Kind: ScalarKind.String or ScalarKind.Int } s)
        {
            Error(node, path, $"expected a duration such as 10s, got {Describe(node)}");
            return null;
        }
        if (!SpecDuration.TryParse(s.Value, out var d, out var error))
        {
            Error(node, path, error!);
            return null;
        }
        if (!allowZero && d == TimeSpan.Zero)
        {
            Error(node, path, "must be a positive duration, got " + s.Value);
            return null;
        }
        return d;
    }

    public T? Enum<T>(YNode node, string path, IReadOnlyList<KeyValuePair<string, T>> table, string what) where T : struct, Enum
    {
        var names = table.Select(kv => kv.Key).ToArray();
        if (node is not YScalar { Kind: ScalarKind.String } s)
        {
            Error(node, path, $"expected {what} ({string.Join(" | ", names)}), got {Describe(node)}");
            return null;
        }
        foreach (var (name, value) in table)
        {
            if (name == s.Value) return value;
        }
        Error(node, path, $"unknown {what} '{s.Value}'{Suggestions.Hint(s.Value, names)}");
        return null;
    }

    public ColumnKind? ColumnType(YNode node, string path)
    {
        if (node is not YScalar { Kind: ScalarKind.String } s)
        {
            Error(node, path, $"expected a column type ({TypeList}), got {Describe(node)}");
            return null;
        }
        if (ColumnTypes.ByName.TryGetValue(s.Value, out var kind)) return kind;
        Error(node, path, $"unknown type '{s.Value}'{Suggestions.Hint(s.Value, ColumnTypes.ByName.Keys.ToArray())}");
        return null;
    }

    public static readonly string TypeList = string.Join(", ", ColumnTypes.ByName.Keys);

    public DateTimeOffset? Timestamp(YNode node, string path)
    {
        var text = String(node, path);
        if (text is null) return null;
        if (TimestampPattern().IsMatch(text)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value))
        {
            return value;
        }
        Error(node, path, $"'{text}' is not a timestamp; write YYYY-MM-DDTHH:MM:SS[.ffffff] with Z or ±HH:MM");
        return null;
    }

    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})\z", RegexOptions.CultureInvariant)]
    private static partial Regex TimestampPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_-]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex PlainKey();
}

/// <summary>
/// Reads one YAML mapping: reports non-text keys, duplicate keys and (unless the caller takes them)
/// unknown keys with a hint, then hands out typed values by key.
/// </summary>
internal sealed class MapReader
{
    private readonly SpecContext _ctx;
    private readonly Dictionary<string, YEntry> _entries = new(StringComparer.Ordinal);

    /// <param name="ctx">Where problems go.</param>
    /// <param name="map">The mapping.</param>
    /// <param name="path">The mapping's path.</param>
    /// <param name="knownKeys">Keys this mapping may hold; null when the caller checks keys itself.</param>
    /// <param name="what">How the mapping is named in messages, e.g. <c>source.file</c>.</param>
    /// <param name="keyNoun">What a key is in messages about duplicates (<c>key</c>, <c>column</c>).</param>
    public MapReader(SpecContext ctx, YMapping map, string path, IReadOnlyCollection<string>? knownKeys, string? what = null, string keyNoun = "key")
    {
        _ctx = ctx;
        Map = map;
        Path = path;
        foreach (var entry in map.Entries)
        {
            // Keys are text whatever they resolve to (`null:` names the null sink).
            if (entry.Key is not YScalar key || key.Value.Length == 0)
            {
                ctx.Error(entry.Key, path, $"keys must be plain text, got {SpecContext.Describe(entry.Key)}");
                continue;
            }
            if (_entries.TryGetValue(key.Value, out var first))
            {
                ctx.Error(entry.Key, SpecContext.Child(path, key.Value), $"duplicate {keyNoun} '{key.Value}' (first at {first.Key.Start})");
                continue;
            }
            _entries.Add(key.Value, entry);
            if (knownKeys is not null && !knownKeys.Contains(key.Value))
            {
                var place = what ?? (path.Length == 0 ? "the pipeline" : path);
                ctx.Error(entry.Key, SpecContext.Child(path, key.Value), $"unknown key '{key.Value}' in {place}{Suggestions.Hint(key.Value, knownKeys)}");
            }
        }
    }

    public YMapping Map { get; }
    public string Path { get; }

    /// <summary>Entries with text keys, first occurrence of each, in document order.</summary>
    public IEnumerable<KeyValuePair<string, YEntry>> Entries => _entries;

    public bool Has(string key) => _entries.ContainsKey(key);

    public YNode? Node(string key) => _entries.TryGetValue(key, out var e) ? e.Value : null;

    public YEntry? Entry(string key) => _entries.TryGetValue(key, out var e) ? e : null;

    public string PathOf(string key) => SpecContext.Child(Path, key);

    public void Missing(string key, string? message = null) =>
        _ctx.Error(Map, PathOf(key), message ?? $"missing required key '{key}'");

    private YNode? Get(string key, bool required)
    {
        var node = Node(key);
        if (node is null && required) Missing(key);
        return node;
    }

    public string? String(string key, bool required = false, bool allowEmpty = false) =>
        Get(key, required) is { } n ? _ctx.String(n, PathOf(key), allowEmpty) : null;

    public long? Int64(string key, long min = long.MinValue, long max = long.MaxValue, bool required = false) =>
        Get(key, required) is { } n ? _ctx.Int64(n, PathOf(key), min, max) : null;

    public int? Int32(string key, int min = int.MinValue, int max = int.MaxValue, bool required = false) =>
        (int?)(Get(key, required) is { } n ? _ctx.Int64(n, PathOf(key), min, max) : null);

    public bool? Bool(string key) => Node(key) is { } n ? _ctx.Bool(n, PathOf(key)) : null;

    public TimeSpan? Duration(string key, bool allowZero, bool required = false) =>
        Get(key, required) is { } n ? _ctx.Duration(n, PathOf(key), allowZero) : null;

    public T? Enum<T>(string key, IReadOnlyList<KeyValuePair<string, T>> table, string what, bool required = false) where T : struct, Enum =>
        Get(key, required) is { } n ? _ctx.Enum(n, PathOf(key), table, what) : null;

    public DateTimeOffset? Timestamp(string key) => Node(key) is { } n ? _ctx.Timestamp(n, PathOf(key)) : null;
}
