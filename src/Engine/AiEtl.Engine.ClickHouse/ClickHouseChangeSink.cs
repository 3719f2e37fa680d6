using AiEtl.Engine.Connectors;
using AiEtl.Engine.Postgres;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.ClickHouse;

/// <summary>Options of <see cref="ClickHouseChangeSink"/> (the <c>clickhouse_cdc</c> sink kind).</summary>
public sealed record ClickHouseChangeSinkOptions
{
    /// <summary>ReplacingMergeTree version: <c>(_lsn &lt;&lt; 20) | min(_tx_seq, 2^20 − 1)</c>.</summary>
    public const string VersionColumn = "_version";
    /// <summary>1 for a delete; the state of a table is <c>SELECT … FINAL WHERE NOT is_deleted</c>.</summary>
    public const string DeletedColumn = "is_deleted";
    /// <summary>Bits of the version that hold the change's position in its transaction.</summary>
    public const int SeqBits = 20;

    public string Name { get; init; } = "clickhouse_cdc";
    /// <summary>HTTP(S) endpoint, e.g. <c>http://localhost:8123</c>.</summary>
    public required string Url { get; init; }
    public string Database { get; init; } = "default";
    public string User { get; init; } = "default";
    public string Password { get; init; } = "";
    /// <summary>Prefix of a target table's name (default none: the source table's name without its schema).</summary>
    public string TablePrefix { get; init; } = "";
    /// <summary>Explicit targets by source table (<c>schema.table</c> → ClickHouse table); others use the prefix rule.</summary>
    public IReadOnlyDictionary<string, string> Tables { get; init; } = new Dictionary<string, string>();
    /// <summary>Create missing target tables (and the database).</summary>
    public bool CreateTables { get; init; } = true;
    /// <summary>Insert when this many rows of one table are buffered.</summary>
    public int BatchRows { get; init; } = 500_000;
    /// <summary>Insert every buffer before their total would exceed this many bytes.</summary>
    public int BatchBytes { get; init; } = 64 << 20;
    /// <summary>Insert buffered rows when the oldest is this old and a batch arrives (checkpoints always insert).</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxRetryTime { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The ClickHouse table a source table (<c>schema.table</c>, name) goes to.</summary>
    public string TargetOf(string qualified, string name) => Tables.TryGetValue(qualified, out var t) ? t : TablePrefix + name;

    /// <summary>Options of the shared HTTP client and type mapping for one target table.</summary>
    internal ClickHouseSinkOptions For(string table) => new()
    {
        Name = Name,
        Url = Url,
        Database = Database,
        Table = table,
        User = User,
        Password = Password,
        MaxRetryTime = MaxRetryTime,
        RequestTimeout = RequestTimeout,
        BatchRows = BatchRows,
        BatchBytes = BatchBytes,
        FlushInterval = FlushInterval,
    };

    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>(For("t").Validate());
        foreach (var (k, v) in Tables)
            if (string.IsNullOrWhiteSpace(v)) p.Add($"tables: the target of {k} must not be empty");
        return p;
    }
}

/// <summary>
/// Applies change batches (<see cref="CdcColumns"/> + table columns, as the <c>postgres_cdc</c> source emits them)
/// to ClickHouse ReplacingMergeTree tables, one per source table, ordered by the source's key. Every change becomes
/// one row carrying the table's columns, <c>_lsn</c>, <c>_tx_seq</c>, <c>_commit_time</c>, a version
/// (<see cref="ClickHouseChangeSinkOptions.VersionColumn"/>: commit LSN, then position in the transaction) and
/// <c>is_deleted</c>; <c>SELECT … FROM t FINAL WHERE NOT is_deleted</c> is the source table's state.
/// <para>Idempotent rather than two-phase: a change replayed after a crash carries the same version and the same
/// values as its first copy, so whichever copy a merge keeps, the state is the same. Truncates and a new initial
/// snapshot delete the rows below their version (a mutation), which a replay repeats harmlessly.</para>
/// <para>Unchanged TOAST values (an update that did not touch a large value, under REPLICA IDENTITY DEFAULT) are
/// filled by the sink: from an earlier change of the same row in the batch, else from the row's current state in
/// ClickHouse; a row the target never saw fails the pipeline with a message naming table, key and column.</para>
/// </summary>
public sealed class ClickHouseChangeSink : ISink
{
    public ClickHouseChangeSink(ClickHouseChangeSinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0) throw new ConnectorConfigException("clickhouse_cdc sink", problems);
        Options = options;
    }

    public ClickHouseChangeSinkOptions Options { get; }
    public string Name => Options.Name;
    public int MaxParallelism => 1;
    public bool AcceptsSchemaChanges => true;

    public IReadOnlyList<string> Validate(Schema input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var problems = new List<string>();
        foreach (var n in new[] { CdcColumns.Table, CdcColumns.Op, CdcColumns.Lsn, CdcColumns.TxSeq, CdcColumns.CommitTime, CdcColumns.Before, CdcColumns.UnchangedToast })
            if (input.GetFieldIndex(n) < 0) problems.Add($"the clickhouse_cdc sink applies change streams; its input lacks the column {n} (feed it a postgres_cdc source without a transform)");
        if (problems.Count > 0) return problems;
        var tables = CdcTableInfo.FromSchema(input);
        if (tables == null) return ["the clickhouse_cdc sink applies change streams; its input schema does not describe the captured tables (feed it a postgres_cdc source without a transform)"];
        foreach (var t in tables)
        {
            if (t.Key.Count == 0) problems.Add($"table {t.Table} has no primary key (or replica identity index), so ReplacingMergeTree has no key to replace rows by");
            foreach (var (c, _) in t.Columns)
                if (c is ClickHouseChangeSinkOptions.VersionColumn or ClickHouseChangeSinkOptions.DeletedColumn)
                    problems.Add($"table {t.Table} has a column named {c}, which the clickhouse_cdc sink uses for its own bookkeeping");
        }
        foreach (var g in tables.GroupBy(t => Options.TargetOf(t.Table, t.Name), StringComparer.Ordinal).Where(g => g.Count() > 1))
            problems.Add($"tables {string.Join(", ", g.Select(t => t.Table))} would all go to the ClickHouse table {g.Key}; map them apart with tables: or table_prefix:");
        return problems;
    }

    public ISinkWriter CreateWriter(Schema input, ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new ClickHouseChangeWriter(Options, input);
    }
}
