using AiEtl.Engine.Connectors;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Npgsql;

namespace AiEtl.Engine.Postgres;

/// <summary>Options of <see cref="PostgresCdcSource"/> (see <see cref="PostgresCdcSourceSpec"/> for their meaning).</summary>
public sealed record PostgresCdcOptions
{
    public required string Name { get; init; }
    public required string ConnectionString { get; init; }
    public IReadOnlyList<string> Include { get; init; } = [];
    public IReadOnlyList<string> Exclude { get; init; } = [];
    public required string Slot { get; init; }
    /// <summary>Publication name; null = the slot name.</summary>
    public string? Publication { get; init; }
    public SnapshotMode Snapshot { get; init; } = SnapshotMode.Initial;
    public int SnapshotParallelism { get; init; } = 2;
    public long SnapshotChunkRows { get; init; } = 250_000;
    public SchemaChangeMode OnSchemaChange { get; init; } = SchemaChangeMode.Fail;
    /// <summary>
    /// When a restart finds its slot missing or invalidated: false (the default) fails naming the slot and the lost
    /// position; true drops it and starts over with a new slot and a new snapshot.
    /// </summary>
    public bool ResnapshotOnSlotLoss { get; init; }
    /// <summary>Heartbeat message interval; zero disables heartbeats (slot lag is still sampled).</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(10);
    public int BatchSize { get; init; } = 8192;
    /// <summary>How long a read waits for changes before it returns an empty batch (so checkpoints pass).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>How long reconnect attempts go on after the replication connection drops before the pipeline fails.</summary>
    public TimeSpan ReconnectTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public string EffectivePublication => Publication ?? Slot;

    /// <summary>The slot name a pipeline gets by default: <c>aietl_</c> + its name, lower case, other characters as <c>_</c>.</summary>
    public static string DefaultSlot(string pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        var chars = pipeline.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray();
        var s = "aietl_" + new string(chars);
        return s.Length > 63 ? s[..63] : s;
    }
}

/// <summary>
/// PostgreSQL change data capture through a logical replication slot (pgoutput). One source captures every table
/// that matches the include/exclude patterns through one slot and one publication, so a transaction that touches
/// several tables arrives in one batch. Its schema is <see cref="CdcColumns"/> followed by the union of the
/// tables' columns (see <see cref="CdcSchema"/>); each row names its table in <c>_table</c>.
/// <para>Guarantees: an initial snapshot from the slot's exported snapshot, then the stream from the slot's
/// consistent point (no gap, no overlap); batches end only at commit boundaries; the slot's confirmed LSN advances
/// only when a checkpoint that covers it has completed (after the sinks committed); a dropped replication
/// connection reconnects and drops what it already delivered by commit LSN. A checkpointed position whose slot is
/// missing or invalidated fails the pipeline instead of silently starting over.</para>
/// </summary>
public sealed class PostgresCdcSource : ISource
{
    private PostgresCdcSource(PostgresCdcOptions options, CdcSchema schema)
    {
        Options = options;
        CdcSchema = schema;
    }

    public PostgresCdcOptions Options { get; }
    internal CdcSchema CdcSchema { get; }
    public string Name => Options.Name;
    public Schema Schema => CdcSchema.Arrow;
    public int MaxParallelism => 1;
    public bool IsBounded => false;

    /// <summary>The captured tables (schema-qualified).</summary>
    public IReadOnlyList<string> Tables => CdcSchema.Tables.Select(t => t.Qualified).ToList();

    public ISourceReader CreateReader(ConnectorContext context) => new PostgresCdcReader(this, context);

    /// <summary>Connects, finds the tables and their columns, and checks that their changes can be captured.</summary>
    public static async Task<PostgresCdcSource> OpenAsync(PostgresCdcOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(options.ConnectionString)) problems.Add("connection must not be empty");
        if (options.BatchSize < 1) problems.Add("batch_size must be positive");
        if (options.SnapshotParallelism < 1) problems.Add("snapshot_parallelism must be positive");
        if (options.SnapshotChunkRows < 1) problems.Add("snapshot_chunk_rows must be positive");
        if (problems.Count > 0) throw new ConnectorConfigException("postgres_cdc source", problems);

        using var conn = new NpgsqlConnection(PgConnections.Normal(options.ConnectionString));
        await conn.OpenAsync(ct).ConfigureAwait(false);
        var wal = (string?)await new NpgsqlCommand("SHOW wal_level", conn).ExecuteScalarAsync(ct).ConfigureAwait(false);
        if (wal != "logical") problems.Add($"the server runs with wal_level = {wal}; logical replication needs wal_level = logical (a restart is required)");
        var tables = await CdcCatalog.DiscoverAsync(conn, options.Include, options.Exclude, ct).ConfigureAwait(false);
        if (tables.Count == 0)
            problems.Add(options.Include.Count == 0
                ? "the database has no tables to capture"
                : $"no table matches include [{string.Join(", ", options.Include)}]{(options.Exclude.Count > 0 ? $" minus exclude [{string.Join(", ", options.Exclude)}]" : "")}");
        foreach (var t in tables)
        {
            if (t.ReplicaIdentity == 'n' || (t.ReplicaIdentity == 'd' && t.Key.Length == 0))
                problems.Add($"table {t.Qualified} has no primary key or replica identity, so PostgreSQL would reject its updates and deletes once it is published: add a primary key or run ALTER TABLE {t.Sql} REPLICA IDENTITY FULL");
        }
        if (problems.Count > 0) throw new ConnectorConfigException("postgres_cdc source", problems);
        return new PostgresCdcSource(options, CdcSchema.Build(tables));
    }
}

/// <summary>Connection strings with the session settings the value conversions rely on.</summary>
internal static class PgConnections
{
    private const string SessionOptions = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c bytea_output=hex -c extra_float_digits=1";

    public static string Normal(string cs)
    {
        var b = new NpgsqlConnectionStringBuilder(cs);
        b.Options = string.IsNullOrEmpty(b.Options) ? SessionOptions : b.Options + " " + SessionOptions;
        return b.ConnectionString;
    }

    public static string Replication(string cs)
    {
        var b = new NpgsqlConnectionStringBuilder(Normal(cs)) { Pooling = false };
        return b.ConnectionString;
    }
}

/// <summary>A table's columns changed and <c>on_schema_change</c> is <c>fail</c>.</summary>
public sealed class CdcSchemaChangedException(string message) : Exception(message);

/// <summary>The replication slot cannot deliver what the checkpoint expects (missing, invalidated, or ahead).</summary>
public sealed class CdcSlotException(string message) : Exception(message);
