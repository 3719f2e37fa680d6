namespace AiEtl.Engine.Spec;

/// <summary>Whether a source kind takes a declared <c>schema:</c>.</summary>
internal enum SchemaRule
{
    /// <summary>The source needs a declared schema (files, Kafka).</summary>
    Required,
    /// <summary>The connector has a fixed schema and rejects <c>schema:</c> (generator).</summary>
    Fixed,
    /// <summary>A declared schema is optional (e.g. discovered from a database table).</summary>
    Optional,
}

/// <summary>A source connector kind: its YAML key, schema rule and option parser.</summary>
/// <param name="Name">The connector's key in YAML.</param>
/// <param name="Schema">Whether the source takes a declared schema.</param>
/// <param name="Parse">Reads the options node at a path; null after reporting errors.</param>
/// <param name="FixedSchema">For <see cref="SchemaRule.Fixed"/>: the schema a parsed connector produces.</param>
internal sealed record SourceConnectorKind(
    string Name,
    SchemaRule Schema,
    Func<SpecContext, YNode, string, SourceConnectorSpec?> Parse,
    Func<SourceConnectorSpec, IReadOnlyList<ColumnSpec>>? FixedSchema = null);

/// <summary>A sink connector kind: its YAML key and option parser.</summary>
internal sealed record SinkConnectorKind(string Name, Func<SpecContext, YNode, string, SinkConnectorSpec?> Parse);

/// <summary>
/// The connector kinds a spec may name, registered explicitly in one table each: a new connector is one
/// entry here (plus its options record and parser), and one property in <c>schemas/pipeline.schema.json</c>.
/// </summary>
public static class SpecConnectors
{
    internal static readonly IReadOnlyList<SourceConnectorKind> Sources =
    [
        new(GeneratorSourceSpec.KindName, SchemaRule.Fixed, ParseGenerator, c => GeneratorSchemas.For(((GeneratorSourceSpec)c).Generator)),
        new(FileSourceSpec.KindName, SchemaRule.Required, ParseFileSource),
        new(PostgresCdcSourceSpec.KindName, SchemaRule.Optional, ParsePostgresCdc),
    ];

    internal static readonly IReadOnlyList<SinkConnectorKind> Sinks =
    [
        new(FileSinkSpec.KindName, ParseFileSink),
        new(ConsoleSinkSpec.KindName, ParseConsoleSink),
        new(NullSinkSpec.KindName, ParseNullSink),
        new(PostgresSinkSpec.KindName, ParsePostgresSink),
    ];

    /// <summary>Source connector keys, in registration order.</summary>
    public static IReadOnlyList<string> SourceKinds { get; } = Sources.Select(s => s.Name).ToArray();

    /// <summary>Sink connector keys, in registration order.</summary>
    public static IReadOnlyList<string> SinkKinds { get; } = Sinks.Select(s => s.Name).ToArray();

    internal const int MaxBatchSize = 1 << 20;

    private static GeneratorSourceSpec? ParseGenerator(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "generator options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["kind", "rows", "rate", "seed", "batch_size", "start_time"]);
        var kind = r.Enum("kind", SpecNames.Generators, "generator kind", required: true);
        var rows = r.Int64("rows", min: 1);
        var rate = r.Int64("rate", min: 0);
        var seed = r.Int64("seed");
        var batchSize = r.Int32("batch_size", min: 1, max: MaxBatchSize);
        var start = r.Timestamp("start_time");
        return kind is { } k ? new GeneratorSourceSpec(k, rows, rate, seed, batchSize, start) : null;
    }

    private static FileSourceSpec? ParseFileSource(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "file source options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["path", "format", "batch_size", "csv"]);
        var filePath = r.String("path", required: true);
        var format = ResolveFormat(ctx, r, filePath);
        var batchSize = r.Int32("batch_size", min: 1, max: MaxBatchSize);
        CsvOptionsSpec? csv = null;
        if (r.Entry("csv") is { } csvEntry)
        {
            csv = ParseCsv(ctx, csvEntry.Value, r.PathOf("csv"));
            if (format is { } f && f != FileFormat.Csv)
            {
                ctx.Error(csvEntry.Key, r.PathOf("csv"), $"csv options apply only to csv files (this source reads {SpecNames.Of(f)})");
            }
        }
        return filePath is not null && format is { } fmt ? new FileSourceSpec(filePath, fmt, batchSize, csv) : null;
    }

    private static CsvOptionsSpec? ParseCsv(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "csv options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["header", "delimiter"]);
        var header = r.Bool("header");
        char? delimiter = null;
        if (r.Node("delimiter") is { } dn && ctx.String(dn, r.PathOf("delimiter"), allowEmpty: true) is { } d)
        {
            if (d.Length != 1 || d[0] is '"' or '\n' or '\r')
            {
                ctx.Error(dn, r.PathOf("delimiter"), $"the delimiter must be one character other than a quote or line break, got \"{d}\"");
            }
            else
            {
                delimiter = d[0];
            }
        }
        return new CsvOptionsSpec(header, delimiter);
    }

    private static FileSinkSpec? ParseFileSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "file sink options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["path", "format"]);
        var filePath = r.String("path", required: true);
        var format = ResolveFormat(ctx, r, filePath);
        return filePath is not null && format is { } f ? new FileSinkSpec(filePath, f) : null;
    }

    private static ConsoleSinkSpec? ParseConsoleSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "console sink options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["max_rows", "format"]);
        var maxRows = r.Int32("max_rows", min: 1);
        var format = r.Enum("format", SpecNames.ConsoleFormats, "console format");
        return new ConsoleSinkSpec(maxRows, format);
    }

    private static NullSinkSpec? ParseNullSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "null sink options", nullIsEmpty: true) is not { } map) return null;
        _ = new MapReader(ctx, map, path, []);
        return new NullSinkSpec();
    }

    private static readonly System.Text.RegularExpressions.Regex SqlName = new("^[A-Za-z_][A-Za-z0-9_]{0,62}$");

    private static PostgresCdcSourceSpec? ParsePostgresCdc(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "postgres_cdc options") is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["connection", "include", "exclude", "slot", "publication", "snapshot",
            "snapshot_parallelism", "snapshot_chunk_rows", "on_schema_change", "heartbeat_interval", "batch_size"]);
        var connection = r.String("connection", required: true);
        var include = StringList(ctx, r, "include");
        var exclude = StringList(ctx, r, "exclude");
        var slot = SqlIdentifier(ctx, r, "slot");
        var publication = SqlIdentifier(ctx, r, "publication");
        var snapshot = r.Enum("snapshot", SpecNames.SnapshotModes, "snapshot mode");
        var parallelism = r.Int32("snapshot_parallelism", min: 1, max: 64);
        var chunk = r.Int64("snapshot_chunk_rows", min: 1);
        var onChange = r.Enum("on_schema_change", SpecNames.SchemaChangeModes, "schema change mode");
        var heartbeat = r.Duration("heartbeat_interval", allowZero: true);
        var batchSize = r.Int32("batch_size", min: 1, max: MaxBatchSize);
        if (connection is null || include is null || exclude is null) return null;
        return new PostgresCdcSourceSpec(connection, include, exclude, slot, publication, snapshot, parallelism, chunk, onChange, heartbeat, batchSize);
    }

    private static PostgresSinkSpec? ParsePostgresSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "postgres sink options") is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["connection", "schema", "table_prefix", "create_tables", "truncate_on_snapshot"]);
        var connection = r.String("connection", required: true);
        var schema = SqlIdentifier(ctx, r, "schema");
        string? prefix = null;
        if (r.Node("table_prefix") is { } pn && ctx.String(pn, r.PathOf("table_prefix"), allowEmpty: true) is { } p)
        {
            if (p.Length > 0 && !SqlName.IsMatch(p)) ctx.Error(pn, r.PathOf("table_prefix"), $"'{p}' is not a plain SQL name prefix (letters, digits, _)");
            else prefix = p;
        }
        var create = r.Bool("create_tables");
        var truncate = r.Bool("truncate_on_snapshot");
        return connection is null ? null : new PostgresSinkSpec(connection, schema, prefix, create, truncate);
    }

    /// <summary>A string or a list of strings; an empty list when the key is absent; null after an error.</summary>
    private static IReadOnlyList<string>? StringList(SpecContext ctx, MapReader r, string key)
    {
        if (r.Node(key) is not { } n) return [];
        if (n is YScalar) return ctx.String(n, r.PathOf(key)) is { } one ? [one] : null;
        if (ctx.Sequence(n, r.PathOf(key), key) is not { } seq) return null;
        var list = new List<string>();
        var ok = true;
        for (var i = 0; i < seq.Items.Count; i++)
        {
            if (ctx.String(seq.Items[i], SpecContext.Item(r.PathOf(key), i)) is { } s) list.Add(s);
            else ok = false;
        }
        return ok ? list : null;
    }

    private static string? SqlIdentifier(SpecContext ctx, MapReader r, string key)
    {
        if (r.Node(key) is not { } n || ctx.String(n, r.PathOf(key)) is not { } s) return null;
        if (SqlName.IsMatch(s)) return s;
        ctx.Error(n, r.PathOf(key), $"'{s}' is not a plain SQL name (a letter or _, then letters, digits or _, at most 63)");
        return null;
    }

    /// <summary>The declared <c>format</c>, else the one the path's extension implies (an error when neither).</summary>
    private static FileFormat? ResolveFormat(SpecContext ctx, MapReader r, string? filePath)
    {
        if (r.Has("format")) return r.Enum("format", SpecNames.FileFormats, "file format");
        if (filePath is null) return null;
        if (SpecNames.FormatFromPath(filePath) is { } implied) return implied;
        ctx.Error(r.Node("path")!, r.PathOf("path"),
            $"cannot tell the file format from '{filePath}'; add format: {string.Join(" | ", SpecNames.FileFormats.Select(f => f.Key))}");
        return null;
    }
}
