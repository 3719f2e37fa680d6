using System.Text;
using System.Text.Json;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Runtime;
using Apache.Arrow;
using Npgsql;
using NpgsqlTypes;

namespace AiEtl.Engine.Postgres;

/// <summary>Options of <see cref="PostgresChangeSink"/> (see <c>PostgresSinkSpec</c>).</summary>
public sealed record PostgresSinkOptions
{
    public required string Name { get; init; }
    public required string ConnectionString { get; init; }
    public string Schema { get; init; } = "public";
    public string TablePrefix { get; init; } = "";
    public bool CreateTables { get; init; } = true;
    public bool TruncateOnSnapshot { get; init; } = true;
    /// <summary>The pipeline's name: with the sink's name and instance it keys the progress row.</summary>
    public string Pipeline { get; init; } = "";
}

/// <summary>
/// Applies change batches (<see cref="CdcColumns"/> + table columns, as the <c>postgres_cdc</c> source emits them)
/// to PostgreSQL tables named after the source tables. Each batch is one transaction on the target: per table,
/// the batch's changes collapse by key in commit order (an update whose TOAST value did not change keeps the value
/// of an earlier change in the batch, else the target's), are COPYed into a temporary staging table and applied
/// with <c>DELETE … USING</c>, <c>INSERT … ON CONFLICT DO UPDATE</c> and an <c>UPDATE</c> for rows with unchanged
/// TOAST columns; the same transaction records (<c>_lsn</c>, <c>_tx_seq</c>) of the last change in
/// <c>aietl_cdc_progress</c>. Changes at or below that position are skipped, so a replay after a restart is a
/// no-op: exactly once without two-phase commit. A new initial snapshot (its rows carry a new consistent point)
/// empties the target tables first.
/// </summary>
public sealed class PostgresChangeSink(PostgresSinkOptions options) : ISink
{
    public PostgresSinkOptions Options { get; } = options ?? throw new ArgumentNullException(nameof(options));
    public string Name => Options.Name;
    public int MaxParallelism => 1;
    public bool AcceptsSchemaChanges => true;

    public IReadOnlyList<string> Validate(Schema input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var problems = new List<string>();
        foreach (var (n, _) in CdcColumns.All)
            if (input.GetFieldIndex(n) < 0) problems.Add($"the postgres sink applies change streams; its input lacks the column {n} (feed it a postgres_cdc source without a transform)");
        if (problems.Count > 0) return problems;
        var tables = CdcTableInfo.FromSchema(input);
        if (tables == null) return ["the postgres sink applies change streams; its input schema does not describe the captured tables (feed it a postgres_cdc source without a transform)"];
        foreach (var t in tables.Where(t => t.Key.Count == 0))
            problems.Add($"table {t.Table} has no primary key, so its rows cannot be upserted by key");
        return problems;
    }

    public ISinkWriter CreateWriter(Schema input, ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new PostgresChangeWriter(Options, $"{Options.Pipeline}/{Options.Name}/{context.Task.Index}", input);
    }
}

internal sealed class PostgresChangeWriter(PostgresSinkOptions o, string sinkId, Schema input) : ISinkWriter
{
    private sealed class Target
    {
        public required CdcTableInfo Info { get; init; }
        public required string Sql { get; init; }
        public required int[] Columns { get; init; }
        public required int[] KeyPositions { get; init; }
        public required string[] PgTypes { get; init; }
        public required string Staging { get; init; }
    }

    private sealed class Entry
    {
        public bool Delete;
        public string?[] Values = [];
        public HashSet<string>? Unchanged;
    }

    private NpgsqlConnection? _conn;
    private long _lsn, _seq, _snapshotLsn;
    private Schema? _schema;
    private readonly Dictionary<string, Target> _targets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _staging = new(StringComparer.Ordinal);
    private IReadOnlyList<CdcTableInfo> _tables = [];
    private string Progress => $"{PgTypes.Quote(o.Schema)}.{PgTypes.Quote(CdcCatalog.ProgressTable)}";

    public async ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct)
    {
        _conn = new NpgsqlConnection(PgConnections.Normal(o.ConnectionString));
        await _conn.OpenAsync(ct).ConfigureAwait(false);
        await ExecAsync($"CREATE SCHEMA IF NOT EXISTS {PgTypes.Quote(o.Schema)}", ct).ConfigureAwait(false);
        await ExecAsync($"CREATE TABLE IF NOT EXISTS {Progress} (sink_id text PRIMARY KEY, lsn bigint NOT NULL, tx_seq bigint NOT NULL, snapshot_lsn bigint NOT NULL, updated timestamptz NOT NULL DEFAULT now())", ct).ConfigureAwait(false);
        // No checkpoint: a fresh run starts over (its snapshot replaces the tables' contents).
        if (restoredState == null) await ExecAsync($"DELETE FROM {Progress} WHERE sink_id = $1", ct, sinkId).ConfigureAwait(false);
        using (var cmd = new NpgsqlCommand($"SELECT lsn, tx_seq, snapshot_lsn FROM {Progress} WHERE sink_id = $1", _conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = sinkId });
            using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (await r.ReadAsync(ct).ConfigureAwait(false)) (_lsn, _seq, _snapshotLsn) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
        }
        // The target tables exist (and have the source's columns) from the start.
        await PrepareAsync(input, ct).ConfigureAwait(false);
    }

    /// <summary>The last applied change's position (tests).</summary>
    public (long Lsn, long TxSeq) Applied => (_lsn, _seq);

    public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Length == 0) return;
        if (!ReferenceEquals(batch.Schema, _schema)) await PrepareAsync(batch.Schema, ct).ConfigureAwait(false);
        var s = batch.Schema;
        var table = (StringArray)batch.Column(s.GetFieldIndex(CdcColumns.Table));
        var op = (StringArray)batch.Column(s.GetFieldIndex(CdcColumns.Op));
        var lsn = (Int64Array)batch.Column(s.GetFieldIndex(CdcColumns.Lsn));
        var seq = (Int64Array)batch.Column(s.GetFieldIndex(CdcColumns.TxSeq));
        var before = (StringArray)batch.Column(s.GetFieldIndex(CdcColumns.Before));
        var toast = (StringArray)batch.Column(s.GetFieldIndex(CdcColumns.UnchangedToast));

        var (newLsn, newSeq, newSnapshot) = (_lsn, _seq, _snapshotLsn);
        var truncateAll = false;
        // Per table: segments of collapsed changes, each optionally followed by a TRUNCATE.
        var work = new Dictionary<string, List<(Dictionary<string, Entry> Changes, bool Truncate)>>(StringComparer.Ordinal);
        var order = new List<string>();
        for (var r = 0; r < batch.Length; r++)
        {
            var o1 = op.GetString(r);
            var l = lsn.GetValue(r)!.Value;
            var q = seq.GetValue(r)!.Value;
            if (o1 == "r")
            {
                if (_lsn >= l) continue; // the stream after this snapshot was already applied
                if (l != newSnapshot)
                {
                    truncateAll = o.TruncateOnSnapshot;
                    newSnapshot = l;
                    work.Clear();
                    order.Clear();
                }
            }
            else
            {
                if (l < _lsn || (l == _lsn && q <= _seq)) continue;
                (newLsn, newSeq) = (l, q);
            }
            var name = table.GetString(r);
            if (!_targets.TryGetValue(name, out var t)) throw new InvalidOperationException($"change for {name}, which the batch schema does not describe");
            if (!work.TryGetValue(name, out var segs))
            {
                work[name] = segs = [(new Dictionary<string, Entry>(StringComparer.Ordinal), false)];
                order.Add(name);
            }
            if (o1 == "t")
            {
                segs[^1] = (segs[^1].Changes, true);
                segs.Add((new Dictionary<string, Entry>(StringComparer.Ordinal), false));
                continue;
            }
            var changes = segs[^1].Changes;
            var values = new string?[t.Columns.Length];
            for (var i = 0; i < values.Length; i++) values[i] = BatchCopy.Text(batch.Column(t.Columns[i]), r);
            var key = KeyOf(t, values);
            switch (o1)
            {
                case "d":
                    changes[key] = new Entry { Delete = true, Values = values };
                    break;
                case "u":
                {
                    if (before.GetString(r) is { } bj && OldKey(t, bj) is { } oldKey && oldKey.Key != key)
                        changes[oldKey.Key] = new Entry { Delete = true, Values = oldKey.Values };
                    HashSet<string>? unchanged = null;
                    if (toast.GetString(r) is { } tj)
                    {
                        unchanged = new HashSet<string>(JsonSerializer.Deserialize(tj, PgSinkJson.Default.StringArray)!, StringComparer.Ordinal);
                        if (changes.TryGetValue(key, out var prev) && !prev.Delete)
                        {
                            for (var i = 0; i < values.Length; i++)
                            {
                                var col = t.Info.Columns[i].Column;
                                if (!unchanged.Contains(col)) continue;
                                values[i] = prev.Values[i];
                                if (prev.Unchanged == null || !prev.Unchanged.Contains(col)) unchanged.Remove(col);
                            }
                        }
                        if (unchanged.Count == 0) unchanged = null;
                    }
                    changes[key] = new Entry { Values = values, Unchanged = unchanged };
                    break;
                }
                default:
                    changes[key] = new Entry { Values = values };
                    break;
            }
        }
        if (newLsn == _lsn && newSeq == _seq && newSnapshot == _snapshotLsn && order.Count == 0) return;

        using var tx = await _conn!.BeginTransactionAsync(ct).ConfigureAwait(false);
        if (truncateAll)
            foreach (var t in _targets.Values) await ExecAsync($"TRUNCATE {t.Sql}", ct).ConfigureAwait(false);
        foreach (var name in order)
        {
            var t = _targets[name];
            foreach (var (changes, truncate) in work[name])
            {
                if (changes.Count > 0) await ApplyAsync(t, changes, ct).ConfigureAwait(false);
                if (truncate) await ExecAsync($"TRUNCATE {t.Sql}", ct).ConfigureAwait(false);
            }
        }
        await ExecAsync($"INSERT INTO {Progress} (sink_id, lsn, tx_seq, snapshot_lsn) VALUES ($1, $2, $3, $4) " +
            "ON CONFLICT (sink_id) DO UPDATE SET lsn = EXCLUDED.lsn, tx_seq = EXCLUDED.tx_seq, snapshot_lsn = EXCLUDED.snapshot_lsn, updated = now()",
            ct, sinkId, newLsn, newSeq, newSnapshot).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        (_lsn, _seq, _snapshotLsn) = (newLsn, newSeq, newSnapshot);
    }

    private static string KeyOf(Target t, string?[] values)
    {
        if (t.KeyPositions.Length == 1) return values[t.KeyPositions[0]] ?? "\0";
        var sb = new StringBuilder();
        foreach (var k in t.KeyPositions) sb.Append(values[k] ?? "\0").Append('\u0001');
        return sb.ToString();
    }

    /// <summary>The old key of an update that changed its key (from <c>_before</c>), or null when it holds no key.</summary>
    private static (string Key, string?[] Values)? OldKey(Target t, string beforeJson)
    {
        using var doc = JsonDocument.Parse(beforeJson);
        var values = new string?[t.Columns.Length];
        foreach (var k in t.KeyPositions)
        {
            if (!doc.RootElement.TryGetProperty(t.Info.Columns[k].Column, out var v)) return null;
            values[k] = v.ValueKind switch
            {
                JsonValueKind.String => v.GetString(),
                JsonValueKind.Null => null,
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => v.GetRawText(),
            };
        }
        return (KeyOf(t, values), values);
    }

    private async Task ApplyAsync(Target t, Dictionary<string, Entry> changes, CancellationToken ct)
    {
        var cols = t.Info.Columns;
        using (var w = await _conn!.BeginBinaryImportAsync(
            $"COPY {t.Staging} (_op, _unch, {string.Join(", ", cols.Select((_, i) => "c" + i))}) FROM STDIN (FORMAT BINARY)", ct).ConfigureAwait(false))
        {
            foreach (var e in changes.Values)
            {
                await w.StartRowAsync(ct).ConfigureAwait(false);
                await w.WriteAsync(e.Delete ? "d" : "u", NpgsqlDbType.Text, ct).ConfigureAwait(false);
                if (e.Unchanged == null) await w.WriteNullAsync(ct).ConfigureAwait(false);
                else await w.WriteAsync(e.Unchanged.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text, ct).ConfigureAwait(false);
                for (var i = 0; i < cols.Count; i++)
                {
                    var v = e.Values[i];
                    if (v == null) await w.WriteNullAsync(ct).ConfigureAwait(false);
                    else await w.WriteAsync(ToPgText(t.PgTypes[i], v), NpgsqlDbType.Text, ct).ConfigureAwait(false);
                }
            }
            await w.CompleteAsync(ct).ConfigureAwait(false);
        }
        string Cast(int i) => $"s.c{i}::{t.PgTypes[i]}";
        var keyMatch = string.Join(" AND ", t.KeyPositions.Select(k => $"d.{PgTypes.Quote(cols[k].Column)} = {Cast(k)}"));
        await ExecAsync($"DELETE FROM {t.Sql} d USING {t.Staging} s WHERE s._op = 'd' AND {keyMatch}", ct).ConfigureAwait(false);
        var nonKey = Enumerable.Range(0, cols.Count).Where(i => !t.KeyPositions.Contains(i)).ToList();
        var names = string.Join(", ", cols.Select(c => PgTypes.Quote(c.Column)));
        var onConflict = nonKey.Count == 0 ? "DO NOTHING" : "DO UPDATE SET " + string.Join(", ", nonKey.Select(i => $"{PgTypes.Quote(cols[i].Column)} = EXCLUDED.{PgTypes.Quote(cols[i].Column)}"));
        await ExecAsync($"INSERT INTO {t.Sql} ({names}) SELECT {string.Join(", ", Enumerable.Range(0, cols.Count).Select(Cast))} FROM {t.Staging} s " +
            $"WHERE s._op = 'u' AND s._unch IS NULL ON CONFLICT ({string.Join(", ", t.KeyPositions.Select(k => PgTypes.Quote(cols[k].Column)))}) {onConflict}", ct).ConfigureAwait(false);
        if (nonKey.Count > 0 && changes.Values.Any(e => e.Unchanged != null))
        {
            var set = string.Join(", ", nonKey.Select(i =>
                $"{PgTypes.Quote(cols[i].Column)} = CASE WHEN '{cols[i].Column.Replace("'", "''", StringComparison.Ordinal)}' = ANY(s._unch) THEN d.{PgTypes.Quote(cols[i].Column)} ELSE {Cast(i)} END"));
            await ExecAsync($"UPDATE {t.Sql} d SET {set} FROM {t.Staging} s WHERE s._op = 'u' AND s._unch IS NOT NULL AND {keyMatch}", ct).ConfigureAwait(false);
        }
        await ExecAsync($"TRUNCATE {t.Staging}", ct).ConfigureAwait(false);
    }

    /// <summary>Text the target type's input function accepts: bytea from base64, arrays from JSON.</summary>
    private static string ToPgText(string pgType, string v) =>
        pgType == "bytea" ? "\\x" + Convert.ToHexString(Convert.FromBase64String(v))
        : pgType.EndsWith("[]", StringComparison.Ordinal) ? PgTypes.JsonToArrayLiteral(v)
        : v;

    /// <summary>A new batch schema: create or evolve the target tables it describes and their staging tables.</summary>
    private async Task PrepareAsync(Schema schema, CancellationToken ct)
    {
        _tables = CdcTableInfo.FromSchema(schema) ?? throw new InvalidOperationException("the batch schema does not describe the captured tables");
        _targets.Clear();
        foreach (var info in _tables)
        {
            var sql = PgTypes.QuoteQualified(o.Schema, o.TablePrefix + info.Name);
            var existing = new Dictionary<string, string>(StringComparer.Ordinal);
            using (var cmd = new NpgsqlCommand("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped", _conn))
            {
                cmd.Parameters.Add(new NpgsqlParameter { Value = sql });
                using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false)) existing[r.GetString(0)] = r.GetString(1);
            }
            if (existing.Count == 0)
            {
                if (!o.CreateTables) throw new InvalidOperationException($"target table {sql} does not exist (create_tables is false)");
                var defs = info.Columns.Select(c => $"{PgTypes.Quote(c.Column)} {c.PgType}").Append($"PRIMARY KEY ({string.Join(", ", info.Key.Select(PgTypes.Quote))})");
                await ExecAsync($"CREATE TABLE IF NOT EXISTS {sql} ({string.Join(", ", defs)})", ct).ConfigureAwait(false);
            }
            else
            {
                foreach (var (col, type) in info.Columns)
                {
                    if (!existing.TryGetValue(col, out var have))
                        await ExecAsync($"ALTER TABLE {sql} ADD COLUMN {PgTypes.Quote(col)} {type}", ct).ConfigureAwait(false);
                    else if (have != type)
                        await ExecAsync($"ALTER TABLE {sql} ALTER COLUMN {PgTypes.Quote(col)} TYPE {type} USING {PgTypes.Quote(col)}::text::{type}", ct).ConfigureAwait(false);
                }
            }
            var signature = sql + "|" + info.Columns.Count;
            if (!_staging.TryGetValue(signature, out var staging))
            {
                staging = "aietl_stg_" + _staging.Count;
                _staging[signature] = staging;
                await ExecAsync($"DROP TABLE IF EXISTS pg_temp.{staging}", ct).ConfigureAwait(false);
                await ExecAsync($"CREATE TEMP TABLE {staging} (_op text, _unch text[], {string.Join(", ", info.Columns.Select((_, i) => $"c{i} text"))})", ct).ConfigureAwait(false);
            }
            _targets[info.Table] = new Target
            {
                Info = info,
                Sql = sql,
                Columns = info.Columns.Select(c => schema.GetFieldIndex(c.Column)).ToArray(),
                KeyPositions = info.Key.Select(k => info.Columns.ToList().FindIndex(c => c.Column == k)).ToArray(),
                PgTypes = info.Columns.Select(c => c.PgType).ToArray(),
                Staging = "pg_temp." + staging,
            };
        }
        _schema = schema;
    }

    public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct)
    {
        // Every batch is committed when written; the state only says that a checkpoint exists.
        var state = new byte[24];
        BitConverter.TryWriteBytes(state.AsSpan(0, 8), _lsn);
        BitConverter.TryWriteBytes(state.AsSpan(8, 8), _seq);
        BitConverter.TryWriteBytes(state.AsSpan(16, 8), _snapshotLsn);
        return ValueTask.FromResult<byte[]?>(state);
    }

    public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;

    private async Task ExecAsync(string sql, CancellationToken ct, params object[] args)
    {
        using var cmd = new NpgsqlCommand(sql, _conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_conn != null) await _conn.DisposeAsync().ConfigureAwait(false);
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class PgSinkJson : System.Text.Json.Serialization.JsonSerializerContext;
