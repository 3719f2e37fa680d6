using AiEtl.Engine.Spec;

namespace AiEtl.Engine.ClickHouse;

/// <summary>Table engine of a table the sink creates.</summary>
public enum ClickHouseTableEngine
{
    MergeTree,
    /// <summary>Rows with equal ORDER BY keys collapse in merges (keep the highest <c>version_column</c>); read with FINAL.</summary>
    ReplacingMergeTree,
}

/// <summary>Compression of insert request bodies.</summary>
public enum ClickHouseCompression
{
    None,
    /// <summary><c>Content-Encoding: gzip</c> (every server version).</summary>
    Gzip,
    /// <summary>ClickHouse's own LZ4 block framing with <c>decompress=1</c> (checksums are not computed: see README).</summary>
    Lz4,
}

/// <summary>How engine timestamps (int64 µs UTC) are stored when the sink creates the table.</summary>
public enum ClickHouseTimestampPrecision
{
    /// <summary>DateTime64(6, 'UTC') where the server has it, else Int64 microseconds since the epoch (18.x, 19.x).</summary>
    Microseconds,
    /// <summary>DateTime('UTC'): whole seconds, sub-second digits are truncated.</summary>
    Seconds,
}

/// <summary>
/// Options of <see cref="ClickHouseSink"/>. Immutable; <see cref="Validate"/> lists every problem at once.
/// </summary>
public sealed record ClickHouseSinkOptions
{
    public const string WriterColumn = "_aietl_writer";
    public const string CheckpointColumn = "_aietl_checkpoint";

    public string Name { get; init; } = "clickhouse";

    /// <summary>HTTP(S) endpoint, e.g. <c>http://localhost:8123</c>.</summary>
    public required string Url { get; init; }
    public string Database { get; init; } = "default";
    public required string Table { get; init; }
    public string User { get; init; } = "default";
    public string Password { get; init; } = "";

    /// <summary>
    /// PEM file with the CA certificate(s) that sign an https server's certificate; the server is then trusted only
    /// through them (host name still checked). Null: the system's trust store.
    /// </summary>
    public string? CaFile { get; init; }

    public DeliveryGuarantee Delivery { get; init; } = DeliveryGuarantee.AtLeastOnce;

    /// <summary>Create the table (and database) when missing, from the input schema.</summary>
    public bool CreateTable { get; init; }
    public ClickHouseTableEngine Engine { get; init; } = ClickHouseTableEngine.MergeTree;
    /// <summary>Sort key columns of a created table (empty: <c>ORDER BY tuple()</c>, MergeTree only).</summary>
    public IReadOnlyList<string> OrderBy { get; init; } = [];
    /// <summary>A PARTITION BY expression of a created table (raw SQL, e.g. <c>toYYYYMM(day)</c>).</summary>
    public string? PartitionBy { get; init; }
    /// <summary>The ReplacingMergeTree version column (an integer, date or timestamp column of the input).</summary>
    public string? VersionColumn { get; init; }
    public ClickHouseTimestampPrecision TimestampPrecision { get; init; } = ClickHouseTimestampPrecision.Microseconds;

    /// <summary>Insert when this many rows are buffered.</summary>
    public int BatchRows { get; init; } = 500_000;
    /// <summary>Insert before the encoded buffer would exceed this many bytes (the writer's memory bound).</summary>
    public int BatchBytes { get; init; } = 64 << 20;
    /// <summary>
    /// Insert buffered rows at least this often, even when no batch arrives (checkpoints always insert). Each insert
    /// makes a part that the server merges later: fewer, larger inserts cost it less (ClickHouse advises at most
    /// about one insert per second per table).
    /// </summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(5);
    public ClickHouseCompression Compression { get; init; } = ClickHouseCompression.None;

    /// <summary>How long transient failures (connection refused/reset, timeouts, retryable server errors) are retried.</summary>
    public TimeSpan MaxRetryTime { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>One HTTP request may take this long before it counts as a (transient) timeout.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>First retry delay; doubles per attempt up to <see cref="MaxBackoff"/>, with full jitter.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(100);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Upper bound on parallel writers.</summary>
    public int MaxParallelism { get; init; } = 64;

    public string QualifiedTable => $"{Database}.{Table}";

    /// <summary>Problems with the options alone (the input schema and server are checked later).</summary>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        if (string.IsNullOrWhiteSpace(Name)) p.Add("name must not be empty");
        if (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            p.Add($"url must be an absolute http:// or https:// URL (got '{Url}')");
        else if (!string.IsNullOrEmpty(uri.Query)) p.Add("url must not carry a query string (settings are chosen by the sink)");
        if (CaFile is not null)
        {
            if (!Url.StartsWith("https://", StringComparison.OrdinalIgnoreCase)) p.Add("ca applies to an https:// url");
            else if (!File.Exists(CaFile)) p.Add($"ca: the CA file '{CaFile}' does not exist");
        }
        if (string.IsNullOrWhiteSpace(Database)) p.Add("database must not be empty");
        if (string.IsNullOrWhiteSpace(Table)) p.Add("table must not be empty");
        if (BatchRows < 1) p.Add($"batch_rows must be at least 1 (got {BatchRows})");
        if (BatchBytes < 64 << 10) p.Add($"batch_bytes must be at least 65536 (got {BatchBytes})");
        if (FlushInterval <= TimeSpan.Zero) p.Add("flush_interval must be positive");
        if (MaxRetryTime < TimeSpan.Zero) p.Add("max_retry_time must not be negative");
        if (RequestTimeout <= TimeSpan.Zero) p.Add("request_timeout must be positive");
        if (InitialBackoff <= TimeSpan.Zero || MaxBackoff < InitialBackoff) p.Add("backoff: initial must be positive and not above max");
        if (MaxParallelism < 1) p.Add("max parallelism must be at least 1");
        if (!CreateTable)
        {
            if (OrderBy.Count > 0) p.Add("order_by applies only with create_table: true");
            if (VersionColumn != null) p.Add("version_column applies only with create_table: true");
            if (PartitionBy != null) p.Add("partition_by applies only with create_table: true");
            if (Engine != ClickHouseTableEngine.MergeTree) p.Add("engine applies only with create_table: true");
        }
        if (VersionColumn != null && Engine != ClickHouseTableEngine.ReplacingMergeTree)
            p.Add("version_column applies only with engine: replacing_merge_tree");
        if (Engine == ClickHouseTableEngine.ReplacingMergeTree && OrderBy.Count == 0)
            p.Add("engine: replacing_merge_tree needs order_by (the key whose rows are replaced)");
        foreach (var c in OrderBy.GroupBy(c => c, StringComparer.Ordinal).Where(g => g.Count() > 1))
            p.Add($"order_by names '{c.Key}' twice");
        return p;
    }
}
