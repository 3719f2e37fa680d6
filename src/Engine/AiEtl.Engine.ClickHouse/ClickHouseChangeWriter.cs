using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AiEtl.Engine.Postgres;
using AiEtl.Engine.Runtime;
using Apache.Arrow;
using Apache.Arrow.Types;
using static AiEtl.Engine.ClickHouse.ClickHouseHttp;

namespace AiEtl.Engine.ClickHouse;

/// <summary>
/// The one writer of <see cref="ClickHouseChangeSink"/>. Keeps one Native insert buffer per target table; a batch's
/// rows are cut into runs of one table and encoded column by column straight from the Arrow arrays, with the
/// version and <c>is_deleted</c> computed on the way. Buffers are inserted at the row/byte limits, when the oldest
/// row is older than the flush interval, before a TOAST lookup or a truncate of their table, and at every checkpoint.
/// </summary>
internal sealed class ClickHouseChangeWriter(ClickHouseChangeSinkOptions o, Schema input) : ISinkWriter
{
    private const ulong SeqMask = (1UL << ClickHouseChangeSinkOptions.SeqBits) - 1;
    private const long MaxLsn = 1L << (64 - ClickHouseChangeSinkOptions.SeqBits);

    private sealed class Target
    {
        public required CdcTableInfo Info { get; init; }
        public required string Table { get; init; }
        public required string Sql { get; init; }
        public required PlannedColumn[] Columns { get; init; }
        /// <summary>Input column index of each key column, and the key column's ClickHouse type.</summary>
        public required int[] KeyInputs { get; init; }
        public required ChType[] KeyTypes { get; init; }
        public required string InsertSql { get; init; }
        public required EncodeBuffer Buffer { get; set; }
        /// <summary>The buffer of the previous insert, reused once that insert is done.</summary>
        public EncodeBuffer? Spare;
        public int Rows;
        public long FirstRowAt;
    }

    private ClickHouseHttp? _http;
    private Schema? _schema;
    private readonly Dictionary<string, Target> _targets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Target> _byTable = new(StringComparer.Ordinal);
    private long _snapshotLsn;
    private Task _inflight = Task.CompletedTask;
    private long _bufferedBytes;

    public ServerVersion Server { get; private set; }
    public long Inserts { get; private set; }
    public long RowsInserted { get; private set; }
    public long ToastLookups { get; private set; }
    public long Truncates { get; private set; }

    public async ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct)
    {
        if (restoredState != null)
        {
            using var doc = JsonDocument.Parse(restoredState);
            if (!doc.RootElement.TryGetProperty("v", out var v) || v.GetInt32() != 1 || !doc.RootElement.TryGetProperty("snapshot_lsn", out var s))
                throw new InvalidDataException($"clickhouse_cdc sink '{o.Name}': the restored state is not a version-1 change sink state; was the sink kind changed between runs?");
            _snapshotLsn = s.GetInt64();
        }
        _http = new ClickHouseHttp(o.For("_"));
        Server = ServerVersion.Parse(await RetryAsync("SELECT version()", c => _http.ScalarAsync("SELECT version()", c), ct).ConfigureAwait(false));
        if (o.CreateTables)
            await RetryAsync("CREATE DATABASE", async c => { await _http.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {Ident(o.Database)}", c).ConfigureAwait(false); return 0; }, ct).ConfigureAwait(false);
        await PrepareAsync(input, ct).ConfigureAwait(false);
    }

    /// <summary>The version of a change: commit LSN, then its position in the transaction (see README for the limits).</summary>
    internal static ulong Version(long lsn, long seq) => ((ulong)lsn << ClickHouseChangeSinkOptions.SeqBits) | Math.Min((ulong)seq, SeqMask);

    /// <summary>The CREATE TABLE of a target (ReplacingMergeTree; the <c>is_deleted</c> argument where the server has it).</summary>
    internal static string CreateTableSql(string database, string table, Schema schema, CdcTableInfo info, ServerVersion server)
    {
        var opts = new ClickHouseSinkOptions { Url = "http://localhost", Table = table };
        var sb = new StringBuilder();
        sb.Append("CREATE TABLE IF NOT EXISTS ").Append(Ident(database)).Append('.').Append(Ident(table)).Append(" (");
        foreach (var (c, _) in info.Columns)
        {
            var f = schema.GetFieldByName(c);
            // Sort keys cannot be Nullable; every other column can be NULL (a delete carries only the key).
            sb.Append(Ident(c)).Append(' ').Append(TablePlan.TypeFor(f.DataType, !info.Key.Contains(c), opts, server)).Append(", ");
        }
        sb.Append(Ident(CdcColumns.Lsn)).Append(" Int64, ");
        sb.Append(Ident(CdcColumns.TxSeq)).Append(" Int64, ");
        sb.Append(Ident(CdcColumns.CommitTime)).Append(' ').Append(TablePlan.TypeFor(schema.GetFieldByName(CdcColumns.CommitTime).DataType, true, opts, server)).Append(", ");
        sb.Append(Ident(ClickHouseChangeSinkOptions.VersionColumn)).Append(" UInt64, ");
        sb.Append(Ident(ClickHouseChangeSinkOptions.DeletedColumn)).Append(" UInt8) ENGINE = ReplacingMergeTree(");
        sb.Append(Ident(ClickHouseChangeSinkOptions.VersionColumn));
        if (server.HasReplacingIsDeleted) sb.Append(", ").Append(Ident(ClickHouseChangeSinkOptions.DeletedColumn));
        sb.Append(") ORDER BY (").Append(string.Join(", ", info.Key.Select(Ident))).Append(')');
        return sb.ToString();
    }

    /// <summary>
    /// The type to modify an existing column to, or null to keep it: a column that cannot take the input type becomes
    /// <paramref name="natural"/> (what the sink creates); one whose values cannot hold all of the input's (Int32 ← Int64)
    /// while <paramref name="natural"/>'s can becomes it, keeping the column's nullability (a NOT NULL column stays one).
    /// </summary>
    internal static string? Widened(IArrowType input, ChType have, ChType natural)
    {
        var current = ColumnWriters.Create(input, false, have.Base, out _);
        if (current == null) return natural.Text;
        if (!current.MayReject || ColumnWriters.Create(input, false, natural.Base, out _) is not { MayReject: false }) return null;
        return have.Kind == ChKind.Nullable ? natural.Text : natural.Base.Text;
    }

    /// <summary>A new batch schema: create or evolve the target tables it describes and plan their columns.</summary>
    private async Task PrepareAsync(Schema schema, CancellationToken ct)
    {
        var tables = CdcTableInfo.FromSchema(schema) ?? throw new InvalidOperationException("the batch schema does not describe the captured tables");
        if (schema.FieldsList.Count < 4 || schema.FieldsList[CdcColumnsIndex.Op].Name != CdcColumns.Op || schema.FieldsList[CdcColumnsIndex.Lsn].Name != CdcColumns.Lsn
            || schema.FieldsList[CdcColumnsIndex.TxSeq].Name != CdcColumns.TxSeq)
            throw new InvalidOperationException("the batch schema does not start with the change columns in the order the postgres_cdc source emits them");
        // Buffers were encoded for the old plans: insert them first.
        await FlushAllAsync(ct).ConfigureAwait(false);
        await SettleAsync().ConfigureAwait(false);
        _targets.Clear();
        _byTable.Clear();
        foreach (var info in tables)
        {
            var table = o.TargetOf(info.Table, info.Name);
            var sql = $"{Ident(o.Database)}.{Ident(table)}";
            var where = $"database = {Quote(o.Database)} AND table = {Quote(table)}";
            var columns = await RetryAsync("system.columns", c => _http!.QueryAsync($"SELECT name, type FROM system.columns WHERE {where}", c), ct).ConfigureAwait(false);
            if (columns.Count == 0)
            {
                if (!o.CreateTables)
                    throw new ClickHouseSinkException($"clickhouse_cdc sink '{o.Name}': table {o.Database}.{table} does not exist (create_tables is false)");
                var ddl = CreateTableSql(o.Database, table, schema, info, Server);
                await RetryAsync("CREATE TABLE", async c => { await _http!.ExecuteAsync(ddl, c).ConfigureAwait(false); return 0; }, ct).ConfigureAwait(false);
                columns = await RetryAsync("system.columns", c => _http!.QueryAsync($"SELECT name, type FROM system.columns WHERE {where}", c), ct).ConfigureAwait(false);
            }
            var have = columns.ToDictionary(r => r[0], r => ChType.Parse(r[1]), StringComparer.Ordinal);
            var opts = o.For(table);
            // Schema evolution: added columns are added (Nullable); a widened type is modified in place: a non-key column
            // that cannot take the source's type, or cannot hold all its values (int → bigint: Int32 ← Int64) while the
            // type the sink would create can, becomes that type.
            foreach (var (c, _) in info.Columns)
            {
                var f = schema.GetFieldByName(c);
                if (!have.TryGetValue(c, out var t))
                {
                    var type = TablePlan.TypeFor(f.DataType, true, opts, Server);
                    await RetryAsync("ALTER TABLE ADD COLUMN", async x => { await _http!.ExecuteAsync($"ALTER TABLE {sql} ADD COLUMN {Ident(c)} {type}", x).ConfigureAwait(false); return 0; }, ct).ConfigureAwait(false);
                    have[c] = ChType.Parse(type);
                }
                else if (!info.Key.Contains(c) && Widened(f.DataType, t, ChType.Parse(TablePlan.TypeFor(f.DataType, true, opts, Server))) is { } type)
                {
                    await RetryAsync("ALTER TABLE MODIFY COLUMN", async x => { await _http!.ExecuteAsync($"ALTER TABLE {sql} MODIFY COLUMN {Ident(c)} {type}", x).ConfigureAwait(false); return 0; }, ct).ConfigureAwait(false);
                    have[c] = ChType.Parse(type);
                }
            }
            var problems = new List<string>();
            var planned = new List<PlannedColumn>();
            foreach (var name in info.Columns.Select(c => c.Column).Concat([CdcColumns.Lsn, CdcColumns.TxSeq, CdcColumns.CommitTime]))
            {
                var i = schema.GetFieldIndex(name);
                var f = schema.FieldsList[i];
                if (!have.TryGetValue(name, out var t))
                {
                    problems.Add($"table {o.Database}.{table} has no column {name}");
                    continue;
                }
                var w = ColumnWriters.Create(f.DataType, f.IsNullable, t, out var error);
                if (w == null) problems.Add($"column {name} of {o.Database}.{table}: {error}");
                else planned.Add(new PlannedColumn(name, t, i, w));
            }
            if (!have.TryGetValue(ClickHouseChangeSinkOptions.VersionColumn, out var vt) || vt.Kind != ChKind.UInt64)
                problems.Add($"table {o.Database}.{table} needs a column {ClickHouseChangeSinkOptions.VersionColumn} UInt64 (the ReplacingMergeTree version)");
            if (!have.TryGetValue(ClickHouseChangeSinkOptions.DeletedColumn, out var dt) || dt.Kind != ChKind.UInt8)
                problems.Add($"table {o.Database}.{table} needs a column {ClickHouseChangeSinkOptions.DeletedColumn} UInt8");
            if (problems.Count > 0)
                throw new ClickHouseSinkException($"clickhouse_cdc sink '{o.Name}': the change stream of {info.Table} does not fit {o.Database}.{table}:\n  - " + string.Join("\n  - ", problems));
            var names = planned.Select(p => Ident(p.Name)).Append(Ident(ClickHouseChangeSinkOptions.VersionColumn)).Append(Ident(ClickHouseChangeSinkOptions.DeletedColumn));
            var target = new Target
            {
                Info = info,
                Table = table,
                Sql = sql,
                Columns = planned.ToArray(),
                KeyInputs = info.Key.Select(k => schema.GetFieldIndex(k)).ToArray(),
                KeyTypes = info.Key.Select(k => have[k]).ToArray(),
                InsertSql = $"INSERT INTO {sql} ({string.Join(", ", names)}) FORMAT Native",
                Buffer = new EncodeBuffer(1 << 16, (long)o.BatchBytes + (64 << 10)),
            };
            _targets[table] = target;
            _byTable[info.Table] = target;
        }
        _schema = schema;
    }

    public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Length == 0) return;
        if (!ReferenceEquals(batch.Schema, _schema)) await PrepareAsync(batch.Schema, ct).ConfigureAwait(false);
        var s = batch.Schema;
        var table = (StringArray)batch.Column(s.GetFieldIndex(CdcColumns.Table));
        var op = (StringArray)batch.Column(s.GetFieldIndex(CdcColumns.Op));
        var lsn = (Int64Array)batch.Column(s.GetFieldIndex(CdcColumns.Lsn));
        var n = batch.Length;
        var toast = (StringArray)batch.Column(s.GetFieldIndex(CdcColumns.UnchangedToast));
        Dictionary<Target, Dictionary<int, IArrowArray>>? filled = null;
        if (toast.NullCount < toast.Length)
        {
            // Unchanged TOAST values: resolved once per batch and table (one insert of its buffer, one lookup query).
            var rowsOf = new Dictionary<Target, List<int>>();
            var withToast = new HashSet<Target>();
            for (var i = 0; i < n; i++)
            {
                if (op.GetBytes(i)[0] == (byte)'t' || !_byTable.TryGetValue(table.GetString(i), out var t)) continue;
                if (!rowsOf.TryGetValue(t, out var list)) rowsOf[t] = list = [];
                list.Add(i);
                if (!toast.IsNull(i)) withToast.Add(t);
            }
            filled = [];
            foreach (var t in withToast) filled[t] = await ResolveToastAsync(t, batch, rowsOf[t], ct).ConfigureAwait(false);
        }
        var r = 0;
        while (r < n)
        {
            var name = table.GetString(r);
            if (!_byTable.TryGetValue(name, out var target)) throw new InvalidOperationException($"change for {name}, which the batch schema does not describe");
            var o1 = op.GetBytes(r)[0];
            var l = lsn.GetValue(r)!.Value;
            if (o1 == (byte)'t')
            {
                await FlushAsync(target, ct).ConfigureAwait(false);
                var seq = ((Int64Array)batch.Column(s.GetFieldIndex(CdcColumns.TxSeq))).GetValue(r)!.Value;
                await DeleteBelowAsync(target, Version(l, seq), ct).ConfigureAwait(false);
                r++;
                continue;
            }
            if (o1 == (byte)'r' && l != _snapshotLsn)
            {
                // A new initial snapshot: rows the target holds from before it may have been deleted since.
                await FlushAllAsync(ct).ConfigureAwait(false);
                foreach (var t in _targets.Values) await DeleteBelowAsync(t, Version(l, 0), ct).ConfigureAwait(false);
                _snapshotLsn = l;
            }
            var bytes = table.GetBytes(r);
            var end = r + 1;
            while (end < n && table.GetBytes(end).SequenceEqual(bytes) && op.GetBytes(end)[0] is var e && e != (byte)'t' && (e != (byte)'r' || lsn.GetValue(end)!.Value == _snapshotLsn)) end++;
            await WriteRunAsync(target, batch, r, end, filled != null && filled.TryGetValue(target, out var f) ? f : null, ct).ConfigureAwait(false);
            r = end;
        }
        foreach (var t in _targets.Values)
            if (t.Rows > 0 && Environment.TickCount64 - t.FirstRowAt >= o.FlushInterval.TotalMilliseconds) await FlushAsync(t, ct).ConfigureAwait(false);
    }

    /// <summary>Rows [start, end) of one table, no truncates among them.</summary>
    private async Task WriteRunAsync(Target t, Batch batch, int start, int end, Dictionary<int, IArrowArray>? overrides, CancellationToken ct)
    {
        var s = batch.Schema;
        var before = (StringArray)batch.Column(s.GetFieldIndex(CdcColumns.Before));
        var op = (StringArray)batch.Column(s.GetFieldIndex(CdcColumns.Op));
        var cols = new IArrowArray[s.FieldsList.Count];
        for (var i = 0; i < cols.Length; i++) cols[i] = overrides != null && overrides.TryGetValue(i, out var a) ? a : batch.Column(i);
        await AppendAsync(t, cols, start, end - start, ct).ConfigureAwait(false);
        // An update that changed the key also deletes the row under the old key.
        if (before.NullCount < before.Length)
        {
            List<int>? moved = null;
            for (var i = start; i < end; i++)
                if (!before.IsNull(i) && op.GetBytes(i)[0] == (byte)'u' && OldKeyDiffers(t, cols, before.GetString(i), i)) (moved ??= []).Add(i);
            if (moved != null) await AppendOldKeyDeletesAsync(t, batch, cols, moved, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Encodes rows into the target's buffer in blocks that respect the byte limit.</summary>
    private async Task AppendAsync(Target t, IArrowArray[] cols, int start, int count, CancellationToken ct)
    {
        while (count > 0)
        {
            if (t.Rows >= o.BatchRows) await FlushAsync(t, ct).ConfigureAwait(false);
            var n = Math.Min(count, o.BatchRows - t.Rows);
            var need = BlockBytes(t, cols, start, n);
            while (need > o.BatchBytes && n > 1)
            {
                n = Math.Max(1, n / 2);
                need = BlockBytes(t, cols, start, n);
            }
            if (_bufferedBytes + need > o.BatchBytes) await FlushAllAsync(ct).ConfigureAwait(false);
            CheckValues(t, cols, start, n);
            var before = t.Buffer.Length;
            WriteBlock(t, cols, start, n);
            _bufferedBytes += t.Buffer.Length - before;
            start += n;
            count -= n;
        }
    }

    /// <summary>
    /// Values the target column cannot hold (out of range, NULL into a non-Nullable column) stop the pipeline: a change
    /// stream cannot skip one change, and writing a wrapped or default value would lose it silently. Deletes are exempt
    /// (only their key matters).
    /// </summary>
    private void CheckValues(Target t, IArrowArray[] cols, int start, int count)
    {
        RowRejects? rejects = null;
        foreach (var c in t.Columns)
            if (c.Writer.MayReject) c.Writer.Check(cols[c.Input], start, count, c.Name, rejects ??= new RowRejects());
        if (rejects == null || rejects.IsEmpty) return;
        var ops = (StringArray)cols[CdcColumnsIndex.Op];
        foreach (var (row, reason) in rejects.Sorted)
        {
            if (ops.GetBytes(row)[0] == (byte)'d') continue;
            throw new ClickHouseSinkException(
                $"clickhouse_cdc sink '{o.Name}': a change of {t.Info.Table} (key {KeyText(t, cols, row).Replace('\u0001', ',')}) does not fit {o.Database}.{t.Table}: {reason}. " +
                "A change stream cannot skip a change, so the pipeline stops; widen the column in ClickHouse (ALTER TABLE … MODIFY COLUMN) and restart");
        }
    }

    private static long BlockBytes(Target t, IArrowArray[] cols, int start, int count)
    {
        long total = 64 + count * 9L;
        foreach (var c in t.Columns) total += 20 + c.Name.Length * 3 + c.Type.Text.Length + c.Writer.MaxBytes(cols[c.Input], start, count);
        return total;
    }

    private static void WriteBlock(Target t, IArrowArray[] cols, int start, int count)
    {
        if (t.Rows == 0) t.FirstRowAt = Environment.TickCount64;
        var b = t.Buffer;
        var schemaOp = cols[CdcColumnsIndex.Op];
        b.WriteVarUInt((ulong)(t.Columns.Length + 2));
        b.WriteVarUInt((ulong)count);
        foreach (var c in t.Columns)
        {
            b.WriteString(c.Name);
            b.WriteString(c.Type.Text);
            c.Writer.Write(cols[c.Input], start, count, b);
        }
        var lsn = ((Int64Array)cols[CdcColumnsIndex.Lsn]).Values.Slice(start, count);
        var seq = ((Int64Array)cols[CdcColumnsIndex.TxSeq]).Values.Slice(start, count);
        b.WriteString(ClickHouseChangeSinkOptions.VersionColumn);
        b.WriteString("UInt64");
        var span = b.Reserve(count * 8);
        for (var i = 0; i < count; i++)
        {
            var l = lsn[i];
            if ((ulong)l >= MaxLsn) throw new InvalidOperationException($"LSN {l:X} is beyond what the clickhouse_cdc version holds (2^{64 - ClickHouseChangeSinkOptions.SeqBits})");
            BinaryPrimitives.WriteUInt64LittleEndian(span[(i * 8)..], Version(l, seq[i]));
        }
        b.Advance(count * 8);
        b.WriteString(ClickHouseChangeSinkOptions.DeletedColumn);
        b.WriteString("UInt8");
        var ops = (StringArray)schemaOp;
        var del = b.Reserve(count);
        for (var i = 0; i < count; i++) del[i] = ops.GetBytes(start + i)[0] == (byte)'d' ? (byte)1 : (byte)0;
        b.Advance(count);
        t.Rows += count;
    }

    /// <summary>The fixed positions of the change columns (the source always emits them first, in this order).</summary>
    private static class CdcColumnsIndex
    {
        public const int Op = 1, Lsn = 2, TxSeq = 3;
    }

    // ---- TOAST ----

    /// <summary>
    /// Fills the unchanged TOAST columns of the run's updates: from the latest earlier change of the same key in the
    /// run, else from the row's state in ClickHouse (the target's buffer is inserted first, so that state is current).
    /// Returns replacement arrays for the columns it filled.
    /// </summary>
    private async Task<Dictionary<int, IArrowArray>> ResolveToastAsync(Target t, Batch batch, List<int> rows, CancellationToken ct)
    {
        var s = batch.Schema;
        var toast = (StringArray)batch.Column(s.GetFieldIndex(CdcColumns.UnchangedToast));
        var op = (StringArray)batch.Column(s.GetFieldIndex(CdcColumns.Op));
        var cols = new IArrowArray[s.FieldsList.Count];
        for (var i = 0; i < cols.Length; i++) cols[i] = batch.Column(i);
        var keys = new string[rows.Count];
        var lists = new string[rows.Count][];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var lookup = new HashSet<string>(StringComparer.Ordinal);
        var affected = new SortedSet<int>();
        for (var j = 0; j < rows.Count; j++)
        {
            var i = rows[j];
            var k = keys[j] = KeyText(t, cols, i);
            if (!toast.IsNull(i))
            {
                var names = lists[j] = JsonSerializer.Deserialize(toast.GetString(i), ChJson.Default.StringArray)!;
                foreach (var c in names)
                {
                    var idx = s.GetFieldIndex(c);
                    if (idx < 0 || s.FieldsList[idx].DataType.TypeId != ArrowTypeId.String)
                        throw new InvalidOperationException($"{t.Info.Table}: unchanged TOAST column {c} is not a text column of the batch");
                    affected.Add(idx);
                }
                if (!seen.Contains(k)) lookup.Add(k);
            }
            seen.Add(k);
        }
        var lsn = (Int64Array)batch.Column(s.GetFieldIndex(CdcColumns.Lsn));
        var seq = (Int64Array)batch.Column(s.GetFieldIndex(CdcColumns.TxSeq));
        var known = new Dictionary<string, Latest>(StringComparer.Ordinal);
        if (lookup.Count > 0)
        {
            await FlushAsync(t, ct).ConfigureAwait(false);
            await SettleAsync().ConfigureAwait(false);
            var names = affected.Select(i => s.FieldsList[i].Name).ToArray();
            foreach (var chunk in lookup.Chunk(500))
                await LookupAsync(t, chunk, names, known, ct).ConfigureAwait(false);
            ToastLookups++;
        }
        // Walk the table's rows in order, keeping each key's latest values of the affected columns.
        var values = affected.ToDictionary(i => i, _ => new string?[rows.Count]);
        var latest = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var j = 0; j < rows.Count; j++)
        {
            var i = rows[j];
            var k = keys[j];
            foreach (var (idx, v) in values) v[j] = ((StringArray)cols[idx]).GetString(i);
            if (lists[j] is { } unchanged)
            {
                foreach (var c in unchanged)
                {
                    var idx = s.GetFieldIndex(c);
                    string? value;
                    if (latest.TryGetValue(k, out var prev))
                    {
                        if (op.GetBytes(rows[prev])[0] == (byte)'d') throw Unknown(t, k, c, "it was deleted earlier in the stream");
                        value = values[idx][prev];
                    }
                    else if (known.TryGetValue(k, out var row))
                    {
                        if (!row.Deleted) value = row.Values[c];
                        // A replay (after a crash) of a change the target already holds a newer version of: this row
                        // loses to that version, so its value never shows.
                        else if (row.Version > Version(lsn.GetValue(i)!.Value, seq.GetValue(i)!.Value)) value = null;
                        else throw Unknown(t, k, c, "the target holds the row as deleted");
                    }
                    else throw Unknown(t, k, c, "the target has no row with this key");
                    values[idx][j] = value;
                }
            }
            latest[k] = j;
        }
        var result = new Dictionary<int, IArrowArray>();
        foreach (var (idx, v) in values)
        {
            var b = new StringArray.Builder();
            var j = 0;
            for (var i = 0; i < batch.Length; i++)
            {
                if (j < rows.Count && rows[j] == i)
                {
                    if (v[j] is { } x) b.Append(x);
                    else b.AppendNull();
                    j++;
                }
                else b.AppendNull();
            }
            result[idx] = b.Build();
        }
        return result;
    }

    private InvalidOperationException Unknown(Target t, string key, string column, string why) => new(
        $"clickhouse_cdc sink '{o.Name}': an update of {t.Info.Table} (key {key.Replace('\u0001', ',')}) left the TOAST column {column} unchanged, " +
        $"so PostgreSQL did not send its value, and the sink cannot fill it in: {why}. Take an initial snapshot into {o.Database}.{t.Table}, " +
        $"or set ALTER TABLE {t.Info.Table} REPLICA IDENTITY FULL so that the change carries the value.");

    /// <summary>A key's newest row in the target: its version, whether it is a delete, and the looked-up columns.</summary>
    private sealed record Latest(ulong Version, bool Deleted, Dictionary<string, string?> Values);

    private async Task LookupAsync(Target t, string[] keys, string[] columns, Dictionary<string, Latest> into, CancellationToken ct)
    {
        var canon = t.Info.Key.Select((k, i) => Canon(Ident(k), t.KeyTypes[i])).ToArray();
        var keyExpr = canon.Length == 1 ? canon[0] : "(" + string.Join(", ", canon) + ")";
        var list = string.Join(", ", keys.Select(k => k.Split('\u0001') is var parts && parts.Length == 1 ? Quote(parts[0]) : "(" + string.Join(", ", parts.Select(Quote)) + ")"));
        var select = string.Join(", ", canon.Select((c, i) => $"{c} AS k{i}")
            .Append($"{Ident(ClickHouseChangeSinkOptions.VersionColumn)} AS ver").Append($"{Ident(ClickHouseChangeSinkOptions.DeletedColumn)} AS del")
            .Concat(columns.SelectMany((c, i) => new[] { $"isNull({Ident(c)}) AS n{i}", $"ifNull({Ident(c)}, '') AS v{i}" })));
        // FINAL keeps each key's newest row; the key condition may run before FINAL (it keeps or drops all of a key's rows).
        var sql = $"SELECT {select} FROM {t.Sql} FINAL WHERE {keyExpr} IN ({list})";
        var rows = await RetryAsync("TOAST lookup", c => _http!.QueryAsync(sql, c), ct).ConfigureAwait(false);
        var n = canon.Length;
        foreach (var row in rows)
        {
            var key = string.Join('\u0001', row.Take(n));
            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            for (var i = 0; i < columns.Length; i++) values[columns[i]] = row[n + 2 + 2 * i] == "1" ? null : row[n + 3 + 2 * i];
            into[key] = new Latest(ulong.Parse(row[n], CultureInfo.InvariantCulture), row[n + 1] == "1", values);
        }
    }

    /// <summary>A key column as text, the same on both sides: <see cref="KeyText"/> renders the Arrow value alike.</summary>
    private static string Canon(string col, ChType type) => type.Base.Kind switch
    {
        ChKind.DateTime64 => $"toString(toUnixTimestamp64Micro({col}))",
        ChKind.Date => $"toString(toUInt16({col}))",
        ChKind.Date32 => $"toString(toInt32({col}))",
        _ => $"toString({col})",
    };

    private static string KeyText(Target t, IArrowArray[] cols, int row)
    {
        if (t.KeyInputs.Length == 1) return ValueText(cols[t.KeyInputs[0]], row);
        var sb = new StringBuilder();
        for (var i = 0; i < t.KeyInputs.Length; i++)
        {
            if (i > 0) sb.Append('\u0001');
            sb.Append(ValueText(cols[t.KeyInputs[i]], row));
        }
        return sb.ToString();
    }

    private static string ValueText(IArrowArray a, int i) => a switch
    {
        _ when a.IsNull(i) => "",
        Int32Array x => x.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
        Int64Array x => x.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
        StringArray x => x.GetString(i),
        BooleanArray x => x.GetValue(i) == true ? "1" : "0",
        TimestampArray x => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(x.ValueBuffer.Span)[x.Offset + i].ToString(CultureInfo.InvariantCulture),
        Date32Array x => x.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
        DoubleArray x => x.GetValue(i)!.Value.ToString("R", CultureInfo.InvariantCulture),
        _ => throw new NotSupportedException($"key columns of Arrow type {a.Data.DataType.Name} are not supported by the clickhouse_cdc sink"),
    };

    // ---- key-changing updates ----

    private static bool OldKeyDiffers(Target t, IArrowArray[] cols, string beforeJson, int row)
    {
        using var doc = JsonDocument.Parse(beforeJson);
        for (var i = 0; i < t.KeyInputs.Length; i++)
        {
            if (!doc.RootElement.TryGetProperty(t.Info.Key[i], out var v)) return false;
            if (JsonText(v) != ValueText(cols[t.KeyInputs[i]], row)) return true;
        }
        return false;
    }

    private static string JsonText(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString()!,
        JsonValueKind.Null => "",
        JsonValueKind.True => "1",
        JsonValueKind.False => "0",
        _ => v.GetRawText(),
    };

    /// <summary>Delete rows for the old keys of updates that moved a row to a new key (same version as the update).</summary>
    private async Task AppendOldKeyDeletesAsync(Target t, Batch batch, IArrowArray[] cols, List<int> rows, CancellationToken ct)
    {
        var s = batch.Schema;
        var before = (StringArray)cols[s.GetFieldIndex(CdcColumns.Before)];
        var arrays = new IArrowArray[cols.Length];
        var keyInputs = new HashSet<int>(t.KeyInputs);
        var docs = rows.Select(r => JsonDocument.Parse(before.GetString(r))).ToList();
        try
        {
            foreach (var c in t.Columns)
            {
                var i = c.Input;
                var src = cols[i];
                if (keyInputs.Contains(i))
                {
                    var name = s.FieldsList[i].Name;
                    arrays[i] = BuildFromJson(src.Data.DataType, docs.Select(d => d.RootElement.GetProperty(name)).ToList());
                }
                else if (i is CdcColumnsIndex.Lsn or CdcColumnsIndex.TxSeq || s.FieldsList[i].Name == CdcColumns.CommitTime) arrays[i] = Take(src, rows);
                else arrays[i] = NullArray(src.Data.DataType, rows.Count);
            }
            arrays[CdcColumnsIndex.Lsn] = Take(cols[CdcColumnsIndex.Lsn], rows);
            arrays[CdcColumnsIndex.TxSeq] = Take(cols[CdcColumnsIndex.TxSeq], rows);
            var ops = new StringArray.Builder();
            foreach (var _ in rows) ops.Append("d");
            arrays[CdcColumnsIndex.Op] = ops.Build();
        }
        finally
        {
            foreach (var d in docs) d.Dispose();
        }
        await AppendAsync(t, arrays, 0, rows.Count, ct).ConfigureAwait(false);
    }

    private static IArrowArray Take(IArrowArray a, List<int> rows)
    {
        switch (a)
        {
            case Int64Array x:
            {
                var b = new Int64Array.Builder();
                foreach (var r in rows)
                {
                    if (x.IsNull(r)) b.AppendNull();
                    else b.Append(x.GetValue(r)!.Value);
                }
                return b.Build();
            }
            case TimestampArray x:
            {
                var v = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(x.ValueBuffer.Span);
                var raw = new Int64Array.Builder();
                foreach (var r in rows)
                {
                    if (x.IsNull(r)) raw.AppendNull();
                    else raw.Append(v[x.Offset + r]);
                }
                var built = raw.Build();
                return new TimestampArray(new ArrayData(x.Data.DataType, built.Length, built.NullCount, 0, built.Data.Buffers));
            }
            default:
                throw new NotSupportedException(a.Data.DataType.Name);
        }
    }

    private static IArrowArray NullArray(IArrowType type, int count)
    {
        var validity = new ArrowBuffer(new byte[(count + 7) / 8]);
        return type switch
        {
            StringType => new StringArray(count, new ArrowBuffer(new byte[(count + 1) * 4]), ArrowBuffer.Empty, validity, count),
            Int32Type or Date32Type => ArrowArrayFactory.BuildArray(new ArrayData(type, count, count, 0, [validity, new ArrowBuffer(new byte[count * 4])])),
            Int64Type or DoubleType or TimestampType => ArrowArrayFactory.BuildArray(new ArrayData(type, count, count, 0, [validity, new ArrowBuffer(new byte[count * 8])])),
            BooleanType => ArrowArrayFactory.BuildArray(new ArrayData(type, count, count, 0, [validity, new ArrowBuffer(new byte[(count + 7) / 8])])),
            _ => throw new NotSupportedException($"the clickhouse_cdc sink cannot write a delete for a column of Arrow type {type.Name}"),
        };
    }

    private static IArrowArray BuildFromJson(IArrowType type, List<JsonElement> values)
    {
        switch (type)
        {
            case Int32Type:
            {
                var b = new Int32Array.Builder();
                foreach (var v in values) b.Append(v.ValueKind == JsonValueKind.String ? int.Parse(v.GetString()!, CultureInfo.InvariantCulture) : v.GetInt32());
                return b.Build();
            }
            case Int64Type:
            {
                var b = new Int64Array.Builder();
                foreach (var v in values) b.Append(v.ValueKind == JsonValueKind.String ? long.Parse(v.GetString()!, CultureInfo.InvariantCulture) : v.GetInt64());
                return b.Build();
            }
            case StringType:
            {
                var b = new StringArray.Builder();
                foreach (var v in values) b.Append(JsonText(v));
                return b.Build();
            }
            default:
                throw new NotSupportedException($"an update changed a key column of Arrow type {type.Name}; the clickhouse_cdc sink handles key changes for integer and text keys");
        }
    }

    // ---- inserts, truncates ----

    private async Task FlushAllAsync(CancellationToken ct)
    {
        foreach (var t in _targets.Values) await FlushAsync(t, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts inserting the target's buffer and swaps in its spare, so encoding goes on while ClickHouse works.
    /// One insert is in flight at a time (it is awaited before the next starts), so inserts keep their order.
    /// </summary>
    private async Task FlushAsync(Target t, CancellationToken ct)
    {
        if (t.Rows == 0) return;
        await _inflight.ConfigureAwait(false);
        var buffer = t.Buffer;
        var rows = t.Rows;
        t.Buffer = t.Spare ?? new EncodeBuffer(1 << 16, (long)o.BatchBytes + (64 << 10));
        t.Spare = null;
        t.Rows = 0;
        _bufferedBytes -= buffer.Length;
        _inflight = InsertAsync(t, buffer, rows, ct);
    }

    private async Task InsertAsync(Target t, EncodeBuffer buffer, int rows, CancellationToken ct)
    {
        var body = buffer.Memory;
        await RetryAsync("INSERT", async c => { await _http!.InsertAsync(t.InsertSql, body, $"aietl-cdc-{Guid.NewGuid():N}", c).ConfigureAwait(false); return 0; }, ct).ConfigureAwait(false);
        Inserts++;
        RowsInserted += rows;
        buffer.Clear();
        t.Spare = buffer;
    }

    /// <summary>Waits until every started insert is in the table (rethrows its failure).</summary>
    private async Task SettleAsync() => await _inflight.ConfigureAwait(false);

    /// <summary>A truncate (or a new snapshot) at <paramref name="version"/>: deletes every row below it, waiting for the mutation.</summary>
    private async Task DeleteBelowAsync(Target t, ulong version, CancellationToken ct)
    {
        await SettleAsync().ConfigureAwait(false);
        var predicate = $"{Ident(ClickHouseChangeSinkOptions.VersionColumn)} < {version.ToString(CultureInfo.InvariantCulture)}";
        var count = await RetryAsync("count", c => _http!.ScalarAsync($"SELECT count() FROM {t.Sql} WHERE {predicate}", c), ct).ConfigureAwait(false);
        if (count == "0") return;
        IReadOnlyDictionary<string, object>? settings = Server.HasMutationsSync ? new Dictionary<string, object> { ["mutations_sync"] = 2 } : null;
        await RetryAsync("ALTER TABLE DELETE", async c => { await _http!.ExecuteAsync($"ALTER TABLE {t.Sql} DELETE WHERE {predicate}", c, settings).ConfigureAwait(false); return 0; }, ct).ConfigureAwait(false);
        var deadline = Environment.TickCount64 + (long)Math.Max(o.MaxRetryTime.TotalMilliseconds, 600_000);
        var delay = 20;
        while (await RetryAsync("system.mutations", c => _http!.ScalarAsync(
                   $"SELECT count() FROM system.mutations WHERE database = {Quote(o.Database)} AND table = {Quote(t.Table)} AND is_done = 0", c), ct).ConfigureAwait(false) != "0")
        {
            if (Environment.TickCount64 > deadline)
                throw new ClickHouseSinkException($"clickhouse_cdc sink '{o.Name}': the truncate of {o.Database}.{t.Table} did not finish in time (see system.mutations)");
            await Task.Delay(delay, ct).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 500);
        }
        Truncates++;
    }

    public async ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct)
    {
        await FlushAllAsync(ct).ConfigureAwait(false);
        await SettleAsync().ConfigureAwait(false);
        return Encoding.UTF8.GetBytes($"{{\"v\":1,\"snapshot_lsn\":{_snapshotLsn.ToString(CultureInfo.InvariantCulture)}}}");
    }

    /// <summary>Nothing to do: every row is in ClickHouse since the pre-commit, and replays are harmless.</summary>
    public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;

    private async Task<T> RetryAsync<T>(string what, Func<CancellationToken, Task<T>> op, CancellationToken ct)
    {
        var budget = new RetryBudget(o.MaxRetryTime, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10));
        while (true)
        {
            try
            {
                return await op(ct).ConfigureAwait(false);
            }
            catch (ClickHouseSinkException e) when (e.IsTransient)
            {
                if (!await budget.WaitAsync(ct).ConfigureAwait(false))
                    throw new ClickHouseSinkException($"clickhouse_cdc sink '{o.Name}': {what}: giving up after {budget.Elapsed.TotalSeconds:0.#}s: {e.Message}", false, e.ServerCode, inner: e);
            }
            catch (ClickHouseSinkException e)
            {
                throw new ClickHouseSinkException($"clickhouse_cdc sink '{o.Name}': {what} failed: {e.Message}", false, e.ServerCode, inner: e);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _inflight.ConfigureAwait(false);
        }
        catch (Exception e) when (e is ClickHouseSinkException or OperationCanceledException)
        {
            // Already reported to the caller (or the run was aborted); the checkpoint did not count these rows.
        }
        _http?.Dispose();
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class ChJson : System.Text.Json.Serialization.JsonSerializerContext;
