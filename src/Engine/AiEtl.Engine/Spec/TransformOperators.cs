namespace AiEtl.Engine.Spec;

/// <summary>An operator a chain may name: its YAML key and argument parser.</summary>
internal sealed record TransformOperatorKind(string Name, Func<SpecContext, YNode, string, TransformStep?> Parse);

/// <summary>The operators of an operator chain, registered explicitly (a new operator is one entry).</summary>
public static class TransformOperators
{
    internal static readonly IReadOnlyList<TransformOperatorKind> All =
    [
        new("filter", ParseFilter),
        new("select", ParseSelect),
        new("rename", ParseRename),
        new("cast", ParseCast),
        new("running_count", ParseRunningCount),
    ];

    /// <summary>Operator names, in registration order.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(o => o.Name).ToArray();

    private static FilterStep? ParseFilter(SpecContext ctx, YNode node, string path) =>
        ctx.String(node, path) is { } predicate ? new FilterStep(predicate) : null;

    private static SelectStep? ParseSelect(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Sequence(node, path, "select") is not { } seq) return null;
        if (seq.Items.Count == 0)
        {
            ctx.Error(seq, path, "select needs at least one expression");
            return null;
        }
        var expressions = new List<string>(seq.Items.Count);
        var ok = true;
        for (var i = 0; i < seq.Items.Count; i++)
        {
            if (ctx.String(seq.Items[i], SpecContext.Item(path, i)) is { } e) expressions.Add(e);
            else ok = false;
        }
        return ok ? new SelectStep(expressions.AsReadOnly()) : null;
    }

    private static RenameStep? ParseRename(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "rename (old_name: new_name)") is not { } map) return null;
        var r = new MapReader(ctx, map, path, null, keyNoun: "column");
        if (map.Entries.Count == 0)
        {
            ctx.Error(map, path, "rename needs at least one old_name: new_name pair");
            return null;
        }
        var renames = new List<ColumnRename>();
        var targets = new Dictionary<string, YNode>(StringComparer.Ordinal);
        var ok = true;
        foreach (var (from, entry) in r.Entries)
        {
            var to = ctx.String(entry.Value, r.PathOf(from));
            if (to is null) { ok = false; continue; }
            if (!SpecNaming.IsColumnName(to))
            {
                ctx.Error(entry.Value, r.PathOf(from), $"invalid column name '{to}': {SpecNaming.ColumnRule}");
                ok = false;
                continue;
            }
            if (targets.TryGetValue(to, out var first))
            {
                ctx.Error(entry.Value, r.PathOf(from), $"two columns renamed to '{to}' (first at {first.Start})");
                ok = false;
                continue;
            }
            targets.Add(to, entry.Value);
            renames.Add(new ColumnRename(from, to));
        }
        return ok && renames.Count == map.Entries.Count ? new RenameStep(renames.AsReadOnly()) : null;
    }

    private static CastStep? ParseCast(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "cast (column: type)") is not { } map) return null;
        var r = new MapReader(ctx, map, path, null, keyNoun: "column");
        if (map.Entries.Count == 0)
        {
            ctx.Error(map, path, "cast needs at least one column: type pair");
            return null;
        }
        var casts = new List<ColumnCast>();
        foreach (var (column, entry) in r.Entries)
        {
            if (ctx.ColumnType(entry.Value, r.PathOf(column)) is { } type) casts.Add(new ColumnCast(column, type));
        }
        return casts.Count == map.Entries.Count ? new CastStep(casts.AsReadOnly()) : null;
    }

    private static RunningCountStep? ParseRunningCount(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "running_count ({ key: column, as: name })") is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["key", "as"], "running_count");
        string? key = null, name = null;
        if (r.Node("key") is { } k) key = ctx.String(k, r.PathOf("key"));
        else r.Missing("key");
        if (r.Node("as") is { } a)
        {
            name = ctx.String(a, r.PathOf("as"));
            if (name != null && !SpecNaming.IsColumnName(name))
            {
                ctx.Error(a, r.PathOf("as"), $"invalid column name '{name}': {SpecNaming.ColumnRule}");
                name = null;
            }
        }
        else r.Missing("as");
        return key != null && name != null ? new RunningCountStep(key, name) : null;
    }
}
