using AiEtl.Engine.Columns;

namespace AiEtl.Engine.Spec;

/// <summary>
/// Loads a pipeline spec from YAML and validates it, reporting every problem at once with its path and
/// the line and column of the offending node.
/// </summary>
public static class PipelineSpecLoader
{
    /// <summary>Keys allowed at the top level of a spec.</summary>
    public static IReadOnlyList<string> TopLevelKeys { get; } =
        ["name", "description", "source", "sources", "transform", "sink", "sinks", "dead_letter", "delivery", "checkpoint", "parallelism"];

    private static readonly string[] EventTimeKeys = ["column", "max_out_of_orderness", "idle_timeout", "allowed_lateness"];
    private static readonly string[] ColumnKeys = ["type", "required", "format"];
    private static readonly string[] CheckpointKeys = ["interval", "dir", "keep"];
    private static readonly string[] DeadLetterKeys = ["file", .. SpecConnectors.DeadLetterTargets.Select(t => t.Name)];

    internal const int MaxParallelism = 1024;

    /// <summary>Reads and validates a spec file; an unreadable file is reported as an error, not thrown.</summary>
    public static PipelineSpecResult Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            var reason = ex is FileNotFoundException or DirectoryNotFoundException ? "file not found" : ex.Message;
            return new PipelineSpecResult(path, null, [new SpecError("", 0, 0, $"cannot read the spec: {reason}")]);
        }
        return LoadFromString(text, path);
    }

    /// <summary>Validates spec text; <paramref name="fileName"/> is only used in messages.</summary>
    public static PipelineSpecResult LoadFromString(string yaml, string fileName) => LoadFromString(yaml, fileName, Environment.GetEnvironmentVariable);

    /// <summary>
    /// Validates spec text, resolving <c>${NAME}</c> through <paramref name="environment"/> (null = not set) and
    /// <c>${file:/path}</c> from the file system (relative paths from the working directory).
    /// </summary>
    public static PipelineSpecResult LoadFromString(string yaml, string fileName, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentNullException.ThrowIfNull(environment);
        var ctx = new SpecContext();
        var secrets = new SecretRedactor();
        var problems = new List<YamlProblem>();
        var root = YamlTree.Parse(yaml, problems, out var syntaxError);
        foreach (var p in problems) ctx.Error(p.Position, "", p.Message);

        PipelineSpec? spec = null;
        if (!syntaxError)
        {
            if (root is null or YScalar { IsNull: true })
            {
                ctx.Error(new TextPosition(1, 1), "", "the spec is empty; a pipeline needs at least name, source and sink");
            }
            else
            {
                root = SpecInterpolation.Apply(root, ctx, environment, secrets);
                spec = ReadPipeline(ctx, root);
            }
        }
        if (spec is not null)
        {
            // Secret fields' values (a reference that failed to resolve is not a secret: its message names it).
            var byNature = spec.Sources.SelectMany(s => s.Connector.SecretValues())
                .Concat(spec.Sinks.SelectMany(s => s.Connector.SecretValues()))
                .Concat(spec.DeadLetter?.Target?.SecretValues() ?? []);
            foreach (var v in byNature.Where(v => !v.Contains("${", StringComparison.Ordinal))) secrets.Add(v);
            spec = spec with { Secrets = secrets };
        }
        // Messages quote values (a wrong type, an unknown name): none may show an interpolated or secret value.
        var errors = ctx.Errors
            .Select((e, i) => (e: e with { Message = secrets.Redact(e.Message) }, i))
            .OrderBy(x => x.e.Line).ThenBy(x => x.e.Column).ThenBy(x => x.i)
            .Select(x => x.e)
            .ToArray();
        return new PipelineSpecResult(fileName, errors.Length == 0 ? spec : null, errors);
    }

    private static PipelineSpec? ReadPipeline(SpecContext ctx, YNode root)
    {
        if (ctx.Mapping(root, "", "a pipeline spec") is not { } map) return null;
        var r = new MapReader(ctx, map, "", TopLevelKeys, "the pipeline");

        var name = r.String("name", required: true);
        if (name is not null && !SpecNaming.IsPipelineName(name))
        {
            ctx.Error(r.Node("name")!, "name", $"invalid pipeline name '{name}': {SpecNaming.PipelineRule}");
        }
        var description = r.String("description", allowEmpty: true);
        var sources = ReadEndpoints(ctx, r, "source", "sources", ReadSource);
        var transform = r.Node("transform") is { } tn ? ReadTransform(ctx, tn, "transform") : null;
        var sinks = ReadEndpoints(ctx, r, "sink", "sinks", ReadSink);

        DeadLetterSpec? deadLetter = null;
        if (r.Node("dead_letter") is { } dn && ctx.Mapping(dn, "dead_letter", "dead_letter") is { } dm)
        {
            deadLetter = ReadDeadLetter(ctx, dm);
        }

        var delivery = r.Enum("delivery", SpecNames.Delivery, "delivery guarantee");

        CheckpointSpec? checkpoint = null;
        if (r.Node("checkpoint") is { } cn && ctx.Mapping(cn, "checkpoint", "checkpoint") is { } cm)
        {
            var cr = new MapReader(ctx, cm, "checkpoint", CheckpointKeys);
            checkpoint = new CheckpointSpec(cr.Duration("interval", allowZero: false), cr.String("dir"), cr.Int32("keep", min: 1));
        }

        var parallelism = r.Int32("parallelism", min: 1, max: MaxParallelism);

        var declaredSources = r.Node("sources") is YMapping declared ? declared.Entries.Count : 1;
        if (declaredSources > 1)
        {
            if (transform is OperatorChainSpec)
            {
                ctx.Error(r.Node("transform")!, "transform", "an operator chain reads a single source; with several sources write the transform in SQL");
            }
            else if (transform is null && !r.Has("transform"))
            {
                ctx.Error(r.Entry("sources")!.Value.Key, "transform", "with several sources a SQL transform must say how they combine");
            }
        }

        if (name is null || sources is null || sinks is null) return null;
        if (r.Has("transform") && transform is null) return null;
        return new PipelineSpec(name, description, sources, transform, sinks, deadLetter, delivery, checkpoint, parallelism);
    }

    /// <summary><c>dead_letter: { file: PATH }</c> or one registered target (<c>kafka: { … }</c>).</summary>
    private static DeadLetterSpec? ReadDeadLetter(SpecContext ctx, YMapping map)
    {
        var r = new MapReader(ctx, map, "dead_letter", DeadLetterKeys);
        var present = DeadLetterKeys.Where(r.Has).ToArray();
        if (present.Length == 0)
        {
            ctx.Error(map, "dead_letter", $"dead_letter needs one output: {string.Join(" or ", DeadLetterKeys)}");
            return null;
        }
        if (present.Length > 1)
        {
            ctx.Error(r.Entry(present[1])!.Value.Key, r.PathOf(present[1]), $"dead_letter has one output; found '{present[0]}' and '{present[1]}'");
            return null;
        }
        if (present[0] == "file") return r.String("file") is { } file ? new DeadLetterSpec(file) : null;
        var target = SpecConnectors.DeadLetterTargets.First(t => t.Name == present[0]);
        return target.Parse(ctx, r.Node(target.Name)!, r.PathOf(target.Name)) is { } spec ? new DeadLetterSpec(null, spec) : null;
    }

    /// <summary>Reads <c>source:</c> / <c>sources:</c> (or the sink pair): exactly one of the two.</summary>
    private static IReadOnlyList<T>? ReadEndpoints<T>(SpecContext ctx, MapReader r, string single, string plural, Func<SpecContext, YNode, string, string, T?> read)
        where T : class
    {
        var one = r.Entry(single);
        var many = r.Entry(plural);
        if (one is null && many is null)
        {
            r.Missing(single, $"a pipeline needs a '{single}' (or a map of named '{plural}')");
            return null;
        }
        if (one is not null && many is not null)
        {
            ctx.Error(many.Value.Key, plural, $"use either '{single}' or '{plural}', not both");
        }

        var result = new List<T>();
        var ok = true;
        if (one is { } o)
        {
            if (read(ctx, o.Value, single, single) is { } item) result.Add(item);
            else ok = false;
        }
        if (many is { } m && ctx.Mapping(m.Value, plural, $"'{plural}' (a map of named {single}s)") is { } map)
        {
            var mr = new MapReader(ctx, map, plural, null, keyNoun: $"{single} name");
            if (map.Entries.Count == 0)
            {
                ctx.Error(map, plural, $"'{plural}' is empty; name at least one {single}");
                ok = false;
            }
            foreach (var (name, entry) in mr.Entries)
            {
                var path = mr.PathOf(name);
                if (!SpecNaming.IsConnectorName(name))
                {
                    ctx.Error(entry.Key, path, $"invalid {single} name '{name}': {SpecNaming.ConnectorRule}");
                    ok = false;
                }
                if (read(ctx, entry.Value, path, name) is { } item) result.Add(item);
                else ok = false;
            }
        }
        else if (many is not null)
        {
            ok = false;
        }
        return ok && !(one is not null && many is not null) ? result.AsReadOnly() : null;
    }

    private static SourceSpec? ReadSource(SpecContext ctx, YNode node, string path, string name)
    {
        if (ConnectorWrittenAsText(ctx, node, path, SpecConnectors.SourceKinds)) return null;
        if (ctx.Mapping(node, path, "a source") is not { } map) return null;
        var r = new MapReader(ctx, map, path, null);
        var kinds = SpecConnectors.Sources;
        string[] otherKeys = ["schema", "event_time"];

        SourceConnectorKind? kind = null;
        YEntry kindEntry = default;
        var ok = true;
        foreach (var (key, entry) in r.Entries)
        {
            if (kinds.FirstOrDefault(k => k.Name == key) is { } k)
            {
                if (kind is null)
                {
                    kind = k;
                    kindEntry = entry;
                }
                else
                {
                    ctx.Error(entry.Key, r.PathOf(key), $"a source has one connector; found '{kind.Name}' and '{key}'");
                    ok = false;
                }
            }
            else if (!otherKeys.Contains(key))
            {
                ctx.Error(entry.Key, r.PathOf(key),
                    $"unknown source connector or key '{key}'{Suggestions.Hint(key, [.. SpecConnectors.SourceKinds, .. otherKeys])}");
                ok = false;
            }
        }
        if (kind is null)
        {
            if (ok) ctx.Error(map, path, $"a source needs a connector: one of {string.Join(", ", SpecConnectors.SourceKinds)}");
            return null;
        }

        var connectorPath = SpecContext.Child(path, kind.Name);
        var connector = kind.Parse(ctx, kindEntry.Value, connectorPath);

        IReadOnlyList<ColumnSpec>? schema = null;
        // Names of every declared column, also those whose type is wrong, so event_time is checked against them.
        IReadOnlyCollection<string>? columnNames = null;
        var schemaEntry = r.Entry("schema");
        // The connector finds the columns itself when it is planned (e.g. a schema registry): event time is checked then.
        var schemaDeferred = schemaEntry is null && connector is not null && kind.SchemaOptional?.Invoke(connector) == true;
        switch (kind.Schema)
        {
            case SchemaRule.Fixed:
                if (schemaEntry is { } se)
                {
                    ctx.Error(se.Key, r.PathOf("schema"), $"the {kind.Name} source has a fixed schema; remove 'schema'");
                    ok = false;
                }
                if (connector is not null)
                {
                    schema = kind.FixedSchema!(connector);
                    columnNames = schema.Select(c => c.Name).ToArray();
                }
                break;
            // A connector that may find its columns itself but did not parse: its own errors say what to fix first.
            case SchemaRule.Required when schemaEntry is null && !schemaDeferred && (connector is not null || kind.SchemaOptional is null):
                r.Missing("schema", $"a {kind.Name} source needs a schema (column: type, …)");
                ok = false;
                break;
            default:
                if (schemaEntry is { } e)
                {
                    (schema, columnNames, var schemaOk) = ReadSchema(ctx, e.Value, r.PathOf("schema"));
                    ok &= schemaOk;
                }
                break;
        }

        if (kind.ExtraColumns is not null && connector is not null)
        {
            var extra = kind.ExtraColumns(connector);
            if (extra.Count > 0)
            {
                var declared = schema ?? [];
                foreach (var clash in extra.Where(c => declared.Any(d => d.Name == c.Name)))
                {
                    var at = schemaEntry?.Value is YMapping sm ? sm.Entries.FirstOrDefault(e => e.Key is YScalar k && k.Value == clash.Name).Key : null;
                    ctx.Error(at ?? schemaEntry?.Key ?? map, SpecContext.Child(r.PathOf("schema"), clash.Name),
                        $"column '{clash.Name}' is also a {kind.Name} metadata column (metadata_columns); rename the declared column");
                    ok = false;
                }
                schema = [.. declared, .. extra];
                columnNames = schemaDeferred ? null : [.. columnNames ?? [], .. extra.Select(c => c.Name)];
            }
        }

        EventTimeSpec? eventTime = null;
        if (r.Node("event_time") is { } en)
        {
            eventTime = ReadEventTime(ctx, en, r.PathOf("event_time"), columnNames, schema);
            ok &= eventTime is not null;
        }

        return ok && connector is not null ? new SourceSpec(name, connector, schema ?? [], eventTime) : null;
    }

    /// <summary>The valid columns, the names of all declared columns, and whether every column is valid.</summary>
    private static (IReadOnlyList<ColumnSpec> Columns, IReadOnlyCollection<string> Names, bool Ok) ReadSchema(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "schema (column: type)") is not { } map) return ([], [], false);
        if (map.Entries.Count == 0)
        {
            ctx.Error(map, path, "the schema has no columns");
            return ([], [], false);
        }
        var r = new MapReader(ctx, map, path, null, keyNoun: "column");
        var columns = new List<ColumnSpec>();
        var names = new List<string>();
        var ok = map.Entries.Count == r.Entries.Count();
        foreach (var (name, entry) in r.Entries)
        {
            names.Add(name);
            var columnPath = r.PathOf(name);
            if (!SpecNaming.IsColumnName(name))
            {
                ctx.Error(entry.Key, columnPath, $"invalid column name '{name}': {SpecNaming.ColumnRule}");
                ok = false;
            }
            if (ReadColumn(ctx, entry.Value, columnPath, name) is { } column) columns.Add(column);
            else ok = false;
        }
        return (columns.AsReadOnly(), names, ok);
    }

    private static ColumnSpec? ReadColumn(SpecContext ctx, YNode node, string path, string name)
    {
        if (node is not YMapping map)
        {
            if (node is YSequence)
            {
                ctx.Error(node, path, $"expected a column type or {{ type: T, required: true }}, got {SpecContext.Describe(node)}");
                return null;
            }
            return ctx.ColumnType(node, path) is { } t ? new ColumnSpec(name, t) : null;
        }
        var r = new MapReader(ctx, map, path, ColumnKeys);
        var type = r.Node("type") is { } tn ? ctx.ColumnType(tn, r.PathOf("type")) : null;
        if (!r.Has("type")) r.Missing("type");
        var required = r.Bool("required");
        var format = r.Enum("format", SpecNames.TimeFormats, "time format");
        if (format is not null && type is { } k && k != ColumnKind.Timestamp)
        {
            ctx.Error(r.Node("format")!, r.PathOf("format"), $"a time format applies to timestamp columns; '{name}' is {ColumnTypes.Name(k)}");
            return null;
        }
        return type is { } kind ? new ColumnSpec(name, kind, required ?? false, format) : null;
    }

    private static EventTimeSpec? ReadEventTime(SpecContext ctx, YNode node, string path, IReadOnlyCollection<string>? columnNames, IReadOnlyList<ColumnSpec>? schema)
    {
        if (ctx.Mapping(node, path, "event_time") is not { } map) return null;
        var r = new MapReader(ctx, map, path, EventTimeKeys);
        var column = r.String("column", required: true);
        var maxOutOfOrderness = r.Duration("max_out_of_orderness", allowZero: true);
        var idleTimeout = r.Duration("idle_timeout", allowZero: false);
        var allowedLateness = r.Duration("allowed_lateness", allowZero: true);
        if (column is not null && columnNames is not null)
        {
            var columnNode = r.Node("column")!;
            if (!columnNames.Contains(column))
            {
                ctx.Error(columnNode, r.PathOf("column"),
                    $"column '{column}' is not in the source schema{Suggestions.Hint(column, columnNames)}");
            }
            else if (schema?.FirstOrDefault(c => c.Name == column) is { } col && col.Type != ColumnKind.Timestamp)
            {
                ctx.Error(columnNode, r.PathOf("column"), $"the event-time column must be a timestamp; '{column}' is {ColumnTypes.Name(col.Type)}");
            }
        }
        // Invalid optional values were reported; the result is discarded whenever anything was.
        return column is not null ? new EventTimeSpec(column, maxOutOfOrderness, idleTimeout, allowedLateness) : null;
    }

    private static TransformSpec? ReadTransform(SpecContext ctx, YNode node, string path)
    {
        switch (node)
        {
            case YScalar { Kind: ScalarKind.String } s:
                if (s.Value.Trim().Length == 0)
                {
                    ctx.Error(node, path, "the SQL transform is empty");
                    return null;
                }
                return new SqlTransformSpec(s.Value);
            case YSequence seq:
                return ReadChain(ctx, seq, path);
            case YMapping:
                ctx.Error(node, path, "transform is SQL text or a list of operators; write each operator as a list item ('- filter: …')");
                return null;
            default:
                ctx.Error(node, path, $"transform is SQL text or a list of operators, got {SpecContext.Describe(node)}");
                return null;
        }
    }

    private static OperatorChainSpec? ReadChain(SpecContext ctx, YSequence seq, string path)
    {
        if (seq.Items.Count == 0)
        {
            ctx.Error(seq, path, "the operator chain is empty");
            return null;
        }
        var steps = new List<TransformStep>();
        var ok = true;
        for (var i = 0; i < seq.Items.Count; i++)
        {
            var itemPath = SpecContext.Item(path, i);
            var item = seq.Items[i];
            if (item is not YMapping map || map.Entries.Count == 0)
            {
                ctx.Error(item, itemPath, $"a transform step is a one-key mapping such as '- filter: …' ({string.Join(", ", TransformOperators.Names)}), got {SpecContext.Describe(item)}");
                ok = false;
                continue;
            }
            var r = new MapReader(ctx, map, itemPath, null);
            TransformOperatorKind? op = null;
            YEntry opEntry = default;
            foreach (var (key, entry) in r.Entries)
            {
                var known = TransformOperators.All.FirstOrDefault(o => o.Name == key);
                if (known is null)
                {
                    ctx.Error(entry.Key, SpecContext.Child(itemPath, key), $"unknown transform operator '{key}'{Suggestions.Hint(key, TransformOperators.Names.ToArray())}");
                    ok = false;
                }
                else if (op is null)
                {
                    op = known;
                    opEntry = entry;
                }
                else
                {
                    ctx.Error(entry.Key, SpecContext.Child(itemPath, key),
                        $"a transform step has one operator; found '{op.Name}' and '{key}' (start a new list item with '- {key}:')");
                    ok = false;
                }
            }
            if (op is null) continue;
            var step = op.Parse(ctx, opEntry.Value, SpecContext.Child(itemPath, op.Name));
            if (step is null) ok = false;
            else steps.Add(step);
        }
        return ok ? new OperatorChainSpec(steps.AsReadOnly()) : null;
    }

    /// <summary><c>sink: console</c> instead of <c>sink: { console: {} }</c>: says how to write it.</summary>
    private static bool ConnectorWrittenAsText(SpecContext ctx, YNode node, string path, IReadOnlyList<string> kinds)
    {
        if (node is not YScalar { Kind: ScalarKind.String or ScalarKind.Null } s || !kinds.Contains(s.Value)) return false;
        ctx.Error(node, path, $"a connector is a key with its options; write '{s.Value}: {{ … }}' below '{path}'");
        return true;
    }

    private static SinkSpec? ReadSink(SpecContext ctx, YNode node, string path, string name)
    {
        if (ConnectorWrittenAsText(ctx, node, path, SpecConnectors.SinkKinds)) return null;
        if (ctx.Mapping(node, path, "a sink") is not { } map) return null;
        var r = new MapReader(ctx, map, path, null);
        SinkConnectorKind? kind = null;
        YEntry kindEntry = default;
        var ok = true;
        foreach (var (key, entry) in r.Entries)
        {
            var known = SpecConnectors.Sinks.FirstOrDefault(k => k.Name == key);
            if (known is null)
            {
                ctx.Error(entry.Key, r.PathOf(key), $"unknown sink connector '{key}'{Suggestions.Hint(key, SpecConnectors.SinkKinds.ToArray())}");
                ok = false;
            }
            else if (kind is null)
            {
                kind = known;
                kindEntry = entry;
            }
            else
            {
                ctx.Error(entry.Key, r.PathOf(key), $"a sink has one connector; found '{kind.Name}' and '{key}'");
                ok = false;
            }
        }
        if (kind is null)
        {
            if (ok) ctx.Error(map, path, $"a sink needs a connector: one of {string.Join(", ", SpecConnectors.SinkKinds)}");
            return null;
        }
        var connector = kind.Parse(ctx, kindEntry.Value, r.PathOf(kind.Name));
        return ok && connector is not null ? new SinkSpec(name, connector) : null;
    }
}
