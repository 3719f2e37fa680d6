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
    ];

    internal static readonly IReadOnlyList<SinkConnectorKind> Sinks =
    [
        new(FileSinkSpec.KindName, ParseFileSink),
        new(ConsoleSinkSpec.KindName, ParseConsoleSink),
        new(NullSinkSpec.KindName, ParseNullSink),
        new(ClickHouseSinkSpec.KindName, ParseClickHouseSink),
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

    private static readonly string[] ClickHouseKeys =
    [
        "url", "database", "table", "user", "password", "create_table", "engine", "order_by", "partition_by", "version_column",
        "timestamp_precision", "batch_rows", "batch_bytes", "flush_interval", "compression", "max_retry_time", "request_timeout",
    ];

    private static ClickHouseSinkSpec? ParseClickHouseSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "clickhouse sink options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ClickHouseKeys);
        var url = r.String("url", required: true);
        if (url != null && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Query.Length > 0))
            ctx.Error(r.Node("url")!, r.PathOf("url"), $"url must be an http:// or https:// URL without a query string, e.g. http://localhost:8123 (got '{url}')");
        var table = r.String("table", required: true);
        var database = r.String("database");
        var user = r.String("user");
        var password = r.String("password", allowEmpty: true);
        var createTable = r.Bool("create_table");
        var engine = r.Enum("engine", SpecNames.ClickHouseEngines, "ClickHouse table engine");
        IReadOnlyList<string>? orderBy = null;
        if (r.Node("order_by") is { } on && ctx.Sequence(on, r.PathOf("order_by"), "order_by") is { } seq)
        {
            var cols = new List<string>();
            for (var i = 0; i < seq.Items.Count; i++)
                if (ctx.String(seq.Items[i], SpecContext.Item(r.PathOf("order_by"), i)) is { } c) cols.Add(c);
            orderBy = cols;
        }
        var partitionBy = r.String("partition_by");
        var versionColumn = r.String("version_column");
        var precision = r.Enum("timestamp_precision", SpecNames.ClickHouseTimestamps, "timestamp precision");
        var batchRows = r.Int32("batch_rows", min: 1);
        var batchBytes = r.Int32("batch_bytes", min: 65536);
        var flushInterval = r.Duration("flush_interval", allowZero: false);
        var compression = r.Enum("compression", SpecNames.ClickHouseCompressions, "compression");
        var maxRetry = r.Duration("max_retry_time", allowZero: true);
        var requestTimeout = r.Duration("request_timeout", allowZero: false);
        if (createTable != true)
        {
            foreach (var k in new[] { "engine", "order_by", "partition_by", "version_column", "timestamp_precision" })
                if (r.Entry(k) is { } e) ctx.Error(e.Key, r.PathOf(k), $"{k} applies only with create_table: true");
        }
        if (versionColumn != null && engine != ClickHouseEngineSpec.ReplacingMergeTree && r.Entry("version_column") is { } ve)
            ctx.Error(ve.Key, r.PathOf("version_column"), "version_column applies only with engine: replacing_merge_tree");
        if (engine == ClickHouseEngineSpec.ReplacingMergeTree && (orderBy == null || orderBy.Count == 0) && r.Entry("engine") is { } ee)
            ctx.Error(ee.Key, r.PathOf("engine"), "engine: replacing_merge_tree needs order_by (the key whose rows are replaced)");
        return url is not null && table is not null
            ? new ClickHouseSinkSpec(url, table, database, user, password, createTable, engine, orderBy, partitionBy, versionColumn, precision,
                batchRows, batchBytes, flushInterval, compression, maxRetry, requestTimeout)
            : null;
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
