using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace AiEtl.Engine.Postgres;

/// <summary>
/// Reads a <see cref="PostgresCdcSource"/>. A background pump owns the replication connection: it takes the
/// initial snapshot (parallel COPY sessions on the slot's exported snapshot), then decodes the stream into batches
/// that end at commit boundaries, and hands them over a small bounded channel (backpressure reaches the server
/// through TCP). The reader returns those batches, or an empty one after the poll interval.
/// </summary>
internal sealed partial class PostgresCdcReader : ISourceReader
{
    private readonly record struct Item(Batch? Batch, CdcPosition Position);

    private readonly PostgresCdcSource _source;
    private readonly PostgresCdcOptions _o;
    private readonly ConnectorContext _context;
    private readonly Channel<Item> _channel = Channel.CreateBounded<Item>(new BoundedChannelOptions(4) { SingleReader = true });
    private readonly CancellationTokenSource _cts = new();
    private readonly Dictionary<Schema, Batch> _empty = new(ReferenceEqualityComparer.Instance);
    private Task? _pump;
    private Task? _heartbeat;
    private CdcPosition? _restored;
    private CdcPosition _position;
    private CdcPosition? _snapshotted;
    private ulong _confirmed;
    private LogicalReplicationConnection? _rep;
    private volatile CdcSchema _schema;

    // Pump-side streaming state.
    private BatchBuilder? _builder;
    private bool _inTx, _skipTx;
    private ulong _txLsn, _pendingCommit, _pendingEnd, _handedCommit;
    private long _txSeq, _xid, _commitMicros;
    private readonly ArrayBufferWriter<byte> _json = new(256);
    private readonly List<string> _toast = [];
    private string?[] _old = [];

    public PostgresCdcReader(PostgresCdcSource source, ConnectorContext context)
    {
        _source = source;
        _o = source.Options;
        _context = context;
        _schema = source.CdcSchema;
        _position = new CdcPosition(false, _o.Slot, 0, 0, 0, source.Tables);
    }

    /// <summary>The LSN the slot was last told it may release (tests and diagnostics).</summary>
    public ulong ConfirmedLsn => Volatile.Read(ref _confirmed);

    public void RestorePosition(ReadOnlySpan<byte> position)
    {
        _restored = CdcPosition.Parse(position);
        _position = _restored;
    }

    public byte[] SnapshotPosition()
    {
        _snapshotted = _position;
        return _position.Serialize();
    }

    public async ValueTask OnCheckpointCompleteAsync(long checkpointId, CancellationToken ct)
    {
        if (_snapshotted is not { Streaming: true } p || p.EndLsn <= Volatile.Read(ref _confirmed)) return;
        Volatile.Write(ref _confirmed, p.EndLsn);
        var rep = Volatile.Read(ref _rep);
        if (rep == null) return;
        try
        {
            rep.SetReplicationStatus(new NpgsqlLogSequenceNumber(p.EndLsn));
            await rep.SendStatusUpdate(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or ObjectDisposedException or InvalidOperationException or IOException or NullReferenceException)
        {
            // The pump reconnects and reports the confirmed position on the new connection. (Npgsql's
            // SendStatusUpdate throws NullReferenceException when the connection broke under it — seen when
            // pg_terminate_backend races a checkpoint completion; the position is kept in _confirmed.)
        }
    }

    public async ValueTask<Batch?> ReadNextBatchAsync(CancellationToken ct)
    {
        if (_pump == null)
        {
            _pump = Task.Run(() => PumpAsync(_cts.Token), CancellationToken.None);
            _heartbeat = Task.Run(() => HeartbeatAsync(_cts.Token), CancellationToken.None);
        }
        while (true)
        {
            if (_channel.Reader.TryRead(out var item))
            {
                _position = item.Position;
                return item.Batch ?? Empty(_schema.Arrow);
            }
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
            wait.CancelAfter(_o.PollInterval);
            try
            {
                if (!await _channel.Reader.WaitToReadAsync(wait.Token).ConfigureAwait(false)) return null;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return Empty(_schema.Arrow);
            }
        }
    }

    private Batch Empty(Schema schema)
    {
        if (!_empty.TryGetValue(schema, out var b))
        {
            using var builder = new BatchBuilder(schema, 1);
            b = builder.Build();
            _empty[schema] = b;
        }
        return b.Retain();
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        foreach (var t in new[] { _pump, _heartbeat })
        {
            if (t == null) continue;
            try { await t.ConfigureAwait(false); }
            catch (Exception) { /* reported through the channel */ }
        }
        while (_channel.Reader.TryRead(out var item)) item.Batch?.Dispose();
        if (_rep != null) await _rep.DisposeAsync().ConfigureAwait(false);
        foreach (var b in _empty.Values) b.Dispose();
        _builder?.Dispose();
        CdcMetrics.Forget(_o.Slot);
        _cts.Dispose();
    }

    private void Fail(Exception e)
    {
        _channel.Writer.TryComplete(e);
        _cts.Cancel();
    }

    // ---------------------------------------------------------------- setup

    private async Task PumpAsync(CancellationToken ct)
    {
        try
        {
            await SetupAsync(ct).ConfigureAwait(false);
            await StreamAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken ct)
    {
        var conn = new NpgsqlConnection(PgConnections.Normal(_o.ConnectionString));
        await conn.OpenAsync(ct).ConfigureAwait(false);
        return conn;
    }

    private async Task SetupAsync(CancellationToken ct)
    {
        using var conn = await OpenAsync(ct).ConfigureAwait(false);
        var tables = string.Join(", ", _schema.Tables.Select(t => t.Sql));
        var pub = PgTypes.Quote(_o.EffectivePublication);
        var exists = await ScalarAsync(conn, "SELECT count(*) FROM pg_publication WHERE pubname = $1", ct, _o.EffectivePublication).ConfigureAwait(false) is long n && n > 0;
        await ExecAsync(conn, exists ? $"ALTER PUBLICATION {pub} SET TABLE {tables}" : $"CREATE PUBLICATION {pub} FOR TABLE {tables}", ct).ConfigureAwait(false);

        var slot = await SlotStateAsync(conn, ct).ConfigureAwait(false);
        var slotLost = slot == null || slot.Value.WalStatus == "lost";
        if (_restored is { Streaming: true } r && !(slotLost && _o.ResnapshotOnSlotLoss && _o.Snapshot == SnapshotMode.Initial))
        {
            var missing = _source.Tables.Except(r.Tables, StringComparer.Ordinal).ToList();
            if (missing.Count > 0)
                throw new CdcSlotException($"tables {string.Join(", ", missing)} now match the source's patterns but were not captured when the checkpoint was taken, so they have no snapshot; start over with a fresh run (aietl run --fresh)");
            if (slot == null)
                throw new CdcSlotException($"replication slot '{_o.Slot}' does not exist, but the checkpoint resumes from LSN {CdcPosition.Lsn(r.CommitLsn)}: changes after it are lost to this pipeline. Start over with a fresh run (aietl run --fresh: new slot and a new snapshot)");
            CheckSlot(slot.Value, r.EndLsn);
            _handedCommit = r.CommitLsn;
            Volatile.Write(ref _confirmed, r.EndLsn);
            _pendingCommit = r.CommitLsn;
            _pendingEnd = r.EndLsn;
            return;
        }
        // Fresh run, or a snapshot that did not finish: a new slot and a new snapshot.
        if (_o.Snapshot == SnapshotMode.Never)
        {
            if (slot == null) await CreateSlotAsync(LogicalSlotSnapshotInitMode.NoExport, ct).ConfigureAwait(false);
            else
            {
                CheckSlot(slot.Value, null);
                _pendingCommit = _handedCommit = slot.Value.Confirmed;
                _pendingEnd = slot.Value.Confirmed;
                await WritePositionAsync(ct).ConfigureAwait(false);
            }
            return;
        }
        if (slot != null)
        {
            // A crashed predecessor's walsender may hold the slot for a moment.
            for (var i = 0; ; i++)
            {
                try
                {
                    await ExecAsync(conn, $"SELECT pg_drop_replication_slot('{_o.Slot}')", ct).ConfigureAwait(false);
                    break;
                }
                catch (PostgresException e) when (e.SqlState == "55006" && i < 100)
                {
                    await Task.Delay(300, ct).ConfigureAwait(false);
                }
            }
        }
        await SnapshotAsync(ct).ConfigureAwait(false);
    }

    private readonly record struct SlotState(string? WalStatus, ulong Confirmed, string Plugin);

    private async Task<SlotState?> SlotStateAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        using var cmd = new NpgsqlCommand("SELECT wal_status, confirmed_flush_lsn, plugin FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = _o.Slot });
        using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
        return new SlotState(r.IsDBNull(0) ? null : r.GetString(0), r.IsDBNull(1) ? 0 : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(1), r.GetString(2));
    }

    private void CheckSlot(SlotState s, ulong? resumeEnd)
    {
        if (s.Plugin != "pgoutput") throw new CdcSlotException($"replication slot '{_o.Slot}' uses the {s.Plugin} plugin; this source needs a pgoutput slot");
        if (s.WalStatus == "lost")
            throw new CdcSlotException($"replication slot '{_o.Slot}' was invalidated (wal_status = lost): the server removed WAL it had not delivered, so changes are lost. Start over with a fresh run (aietl run --fresh: new slot and a new snapshot)");
        if (resumeEnd is { } end && s.Confirmed > end)
            throw new CdcSlotException($"replication slot '{_o.Slot}' confirmed LSN {CdcPosition.Lsn(s.Confirmed)}, beyond the checkpoint's {CdcPosition.Lsn(end)}: the changes in between cannot be read again. Start over with a fresh run (aietl run --fresh)");
    }

    private async Task<PgOutputReplicationSlot> CreateSlotAsync(LogicalSlotSnapshotInitMode mode, CancellationToken ct)
    {
        _rep = new LogicalReplicationConnection(PgConnections.Replication(_o.ConnectionString));
        await _rep.Open(ct).ConfigureAwait(false);
        var slot = await _rep.CreatePgOutputReplicationSlot(_o.Slot, temporarySlot: false, slotSnapshotInitMode: mode, cancellationToken: ct).ConfigureAwait(false);
        _pendingCommit = _handedCommit = _pendingEnd = (ulong)slot.ConsistentPoint;
        if (mode != LogicalSlotSnapshotInitMode.Export) await WritePositionAsync(ct).ConfigureAwait(false);
        return slot;
    }

    private async Task WritePositionAsync(CancellationToken ct)
    {
        var pos = new CdcPosition(true, _o.Slot, _position.ConsistentPoint, _pendingCommit, _pendingEnd, _source.Tables);
        await _channel.Writer.WriteAsync(new Item(null, pos), ct).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- snapshot

    private sealed record Chunk(CdcTable Table, string? Where);

    private async Task SnapshotAsync(CancellationToken ct)
    {
        var slot = await CreateSlotAsync(LogicalSlotSnapshotInitMode.Export, ct).ConfigureAwait(false);
        var cp = (ulong)slot.ConsistentPoint;
        var snapshotPos = new CdcPosition(false, _o.Slot, cp, 0, 0, _source.Tables);
        var sessions = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < _o.SnapshotParallelism; i++)
            {
                var c = await OpenAsync(ct).ConfigureAwait(false);
                sessions.Add(c);
                await ExecAsync(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", ct).ConfigureAwait(false);
                try
                {
                    await ExecAsync(c, $"SET TRANSACTION SNAPSHOT '{slot.SnapshotName}'", ct).ConfigureAwait(false);
                }
                catch (PostgresException e) when (e.SqlState == "22023")
                {
                    // The snapshot lives only while the replication connection that exported it is open and idle.
                    throw new CdcSlotException(
                        $"postgres cdc source '{_o.Name}': the replication connection that exported the initial snapshot of slot '{_o.Slot}' closed before the snapshot was taken up ({e.MessageText}); " +
                        "nothing was read from it yet: a restart takes the snapshot again");
                }
            }
            var chunks = new ConcurrentQueue<Chunk>();
            foreach (var t in _schema.Tables)
                foreach (var c in await PlanChunksAsync(sessions[0], t, ct).ConfigureAwait(false)) chunks.Enqueue(c);
            var commitMicros = PgTypes.MicrosOf(DateTime.UtcNow);
            var workers = sessions.Select(s => Task.Run(() => CopyChunks(s, chunks, cp, commitMicros, snapshotPos, ct), ct)).ToArray();
            await Task.WhenAll(workers).ConfigureAwait(false);
            foreach (var s in sessions) await ExecAsync(s, "COMMIT", ct).ConfigureAwait(false);
        }
        finally
        {
            foreach (var s in sessions) await s.DisposeAsync().ConfigureAwait(false);
        }
        _position = _position with { ConsistentPoint = cp };
        _pendingCommit = _handedCommit = _pendingEnd = cp;
        await _channel.Writer.WriteAsync(new Item(null, new CdcPosition(true, _o.Slot, cp, cp, cp, _source.Tables)), ct).ConfigureAwait(false);
    }

    private async Task<List<Chunk>> PlanChunksAsync(NpgsqlConnection conn, CdcTable t, CancellationToken ct)
    {
        var key = t.Key.Length == 1 ? t.Columns.FirstOrDefault(c => c.Name == t.Key[0]) : null;
        if (key == null || key.Conv is not (PgConv.Int32 or PgConv.Int64)) return [new Chunk(t, null)];
        var est = await ScalarAsync(conn, $"SELECT reltuples::int8 FROM pg_class WHERE oid = {t.Oid}", ct).ConfigureAwait(false) as long? ?? -1;
        if (est < 0) est = (long)(await ScalarAsync(conn, $"SELECT count(*) FROM {t.Sql}", ct).ConfigureAwait(false) ?? 0L);
        if (est <= _o.SnapshotChunkRows) return [new Chunk(t, null)];
        using var cmd = new NpgsqlCommand($"SELECT min({PgTypes.Quote(key.Name)})::int8, max({PgTypes.Quote(key.Name)})::int8 FROM {t.Sql}", conn);
        using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false) || r.IsDBNull(0)) return [new Chunk(t, null)];
        var (lo, hi) = (r.GetInt64(0), r.GetInt64(1));
        var n = (int)Math.Min(4096, Math.Max(1, est / _o.SnapshotChunkRows));
        var width = Math.Max(1, (long)(((decimal)hi - lo + 1) / n));
        var k = PgTypes.Quote(key.Name);
        var list = new List<Chunk>();
        for (var start = lo; ; start += width)
        {
            var last = start > hi - width;
            list.Add(new Chunk(t, last ? $"{k} >= {start}" : $"{k} >= {start} AND {k} < {start + width}"));
            if (last) break;
        }
        list[0] = list[0] with { Where = list.Count == 1 ? null : $"{k} < {lo + width}" };
        return list;
    }

    private async Task CopyChunks(NpgsqlConnection conn, ConcurrentQueue<Chunk> chunks, ulong cp, long commitMicros, CdcPosition pos, CancellationToken ct)
    {
        using var builder = new BatchBuilder(_schema.Arrow, _o.BatchSize);
        while (chunks.TryDequeue(out var chunk))
        {
            ct.ThrowIfCancellationRequested();
            _schema.TryGet(chunk.Table.Oid, out var t, out var map, out var others);
            var binary = new bool[t.Columns.Count];
            var exprs = new string[t.Columns.Count];
            for (var i = 0; i < t.Columns.Count; i++)
            {
                var c = t.Columns[i];
                var kind = builder[map[i]].Kind;
                var q = PgTypes.Quote(c.Name);
                (binary[i], exprs[i]) = (c.Conv, kind) switch
                {
                    (PgConv.Int32, ColumnKind.Int32) => (true, q + "::int4"),
                    (PgConv.Int32 or PgConv.Int64, ColumnKind.Int64) => (true, q + "::int8"),
                    (PgConv.Float64, ColumnKind.Float64) => (true, q),
                    (PgConv.Bool, ColumnKind.Bool) => (true, q),
                    (PgConv.Timestamp or PgConv.TimestampTz, ColumnKind.Timestamp) => (true, q),
                    (PgConv.Date, ColumnKind.Date) => (true, q),
                    _ => (false, q + "::text"),
                };
            }
            var sql = $"COPY (SELECT {string.Join(", ", exprs)} FROM ONLY {t.Sql}{(chunk.Where != null ? " WHERE " + chunk.Where : "")}) TO STDOUT (FORMAT BINARY)";
            using var copy = await conn.BeginBinaryExportAsync(sql, ct).ConfigureAwait(false);
            var table = t.Qualified;
            while (copy.StartRow() >= 0)
            {
                builder[CdcColumns.TableIdx].AppendString(table);
                builder[CdcColumns.OpIdx].AppendUtf8("r"u8);
                builder[CdcColumns.LsnIdx].AppendInt64((long)cp);
                builder[CdcColumns.TxSeqIdx].AppendInt64(0);
                builder[CdcColumns.CommitTimeIdx].AppendInt64(commitMicros);
                builder[CdcColumns.XidIdx].AppendNull();
                builder[CdcColumns.BeforeIdx].AppendNull();
                builder[CdcColumns.ToastIdx].AppendNull();
                for (var i = 0; i < exprs.Length; i++)
                {
                    var b = builder[map[i]];
                    if (copy.IsNull)
                    {
                        copy.Skip();
                        b.AppendNull();
                        continue;
                    }
                    if (!binary[i])
                    {
                        PgTypes.AppendText(b, t.Columns[i], copy.Read<string>());
                        continue;
                    }
                    switch (t.Columns[i].Conv)
                    {
                        case PgConv.Int32 when b.Kind == ColumnKind.Int32: b.AppendInt32(copy.Read<int>()); break;
                        case PgConv.Int32 or PgConv.Int64: b.AppendInt64(copy.Read<long>()); break;
                        case PgConv.Float64: b.AppendDouble(copy.Read<double>()); break;
                        case PgConv.Bool: b.AppendBool(copy.Read<bool>()); break;
                        case PgConv.TimestampTz: b.AppendInt64(PgTypes.MicrosOf(copy.Read<DateTime>(NpgsqlDbType.TimestampTz))); break;
                        case PgConv.Timestamp: b.AppendInt64(PgTypes.MicrosOf(copy.Read<DateTime>(NpgsqlDbType.Timestamp))); break;
                        case PgConv.Date:
                            var d = copy.Read<DateOnly>(NpgsqlDbType.Date);
                            b.AppendInt32(d.DayNumber - PgTypes.EpochDay);
                            break;
                    }
                }
                foreach (var o in others) builder[o].AppendNull();
                if (builder.Length >= _o.BatchSize)
                {
                    CdcMetrics.Events.Add(builder.Length, new KeyValuePair<string, object?>("slot", _o.Slot));
                    await _channel.Writer.WriteAsync(new Item(builder.Build(), pos), ct).ConfigureAwait(false);
                }
            }
        }
        if (builder.Length > 0)
        {
            CdcMetrics.Events.Add(builder.Length, new KeyValuePair<string, object?>("slot", _o.Slot));
            await _channel.Writer.WriteAsync(new Item(builder.Build(), pos), ct).ConfigureAwait(false);
        }
    }

    // ---------------------------------------------------------------- streaming

    private async Task StreamAsync(CancellationToken ct)
    {
        _builder = new BatchBuilder(_schema.Arrow, _o.BatchSize);
        // Raw pgoutput (protocol 1, text values, logical messages for heartbeats), decoded straight into the batch.
        var options = new KeyValuePair<string, string?>[]
        {
            new("proto_version", "1"),
            new("publication_names", "\"" + _o.EffectivePublication + "\""),
            new("messages", "true"),
        };
        var slot = new PgOutputReplicationSlot(_o.Slot);
        var backoff = TimeSpan.FromMilliseconds(200);
        DateTime? failingSince = null;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                if (_rep == null)
                {
                    using (var conn = await OpenAsync(ct).ConfigureAwait(false))
                    {
                        var state = await SlotStateAsync(conn, ct).ConfigureAwait(false)
                            ?? throw new CdcSlotException($"replication slot '{_o.Slot}' disappeared while the pipeline ran (dropped outside the pipeline?): changes after LSN {CdcPosition.Lsn(_handedCommit)} are lost. Start over with a fresh run (aietl run --fresh)");
                        CheckSlot(state, Volatile.Read(ref _confirmed) is var c && c > 0 ? Math.Max(c, _handedCommit) : null);
                    }
                    var rep = new LogicalReplicationConnection(PgConnections.Replication(_o.ConnectionString));
                    await rep.Open(ct).ConfigureAwait(false);
                    _rep = rep;
                    if (failingSince != null) CdcMetrics.Reconnects.Add(1, new KeyValuePair<string, object?>("slot", _o.Slot));
                }
                var confirmed = Volatile.Read(ref _confirmed);
                if (confirmed > 0) _rep.SetReplicationStatus(new NpgsqlLogSequenceNumber(confirmed));
                var e = Npgsql.Replication.Internal.LogicalReplicationConnectionExtensions.StartLogicalReplication(_rep, slot, ct, null, options).GetAsyncEnumerator(ct);
                try
                {
                    while (true)
                    {
                        var next = e.MoveNextAsync();
                        if (!next.IsCompleted && !_inTx && _builder.Length > 0) await FlushAsync(ct).ConfigureAwait(false);
                        if (!await next.ConfigureAwait(false)) break;
                        failingSince = null;
                        backoff = TimeSpan.FromMilliseconds(200);
                        await HandleAsync(e.Current, ct).ConfigureAwait(false);
                    }
                }
                finally
                {
                    try { await e.DisposeAsync().ConfigureAwait(false); }
                    catch (Exception) { /* the stream already failed or was cancelled */ }
                }
                throw new EndOfStreamException("the server ended the replication stream");
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && IsTransient(ex))
            {
                // Forget what was not handed over; the server resends it and delivered transactions are skipped by LSN.
                _builder.Truncate(0);
                _inTx = false;
                var rep = _rep;
                _rep = null;
                if (rep != null)
                {
                    try { await rep.DisposeAsync().ConfigureAwait(false); }
                    catch (Exception) { /* the connection is already broken */ }
                }
                failingSince ??= DateTime.UtcNow;
                if (DateTime.UtcNow - failingSince > _o.ReconnectTimeout)
                    throw new InvalidOperationException($"the replication connection for slot '{_o.Slot}' could not be re-established within {_o.ReconnectTimeout}: {ex.Message}", ex);
                await Task.Delay(backoff, ct).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    private static bool IsTransient(Exception e) => e switch
    {
        CdcSlotException or CdcSchemaChangedException => false,
        PostgresException pe => pe.SqlState is "57P01" or "57P02" or "57P03" or "55000" or "55006" or "53300" or "53400" or "40001"
            || pe.SqlState.StartsWith("08", StringComparison.Ordinal),
        NpgsqlException => true,
        IOException or SocketException or EndOfStreamException or TimeoutException => true,
        _ => false,
    };

    private async ValueTask FlushAsync(CancellationToken ct)
    {
        var rows = _builder!.Length;
        var batch = _builder.Build();
        CdcMetrics.Events.Add(rows, new KeyValuePair<string, object?>("slot", _o.Slot));
        await _channel.Writer.WriteAsync(new Item(batch, new CdcPosition(true, _o.Slot, _position.ConsistentPoint, _pendingCommit, _pendingEnd, _source.Tables)), ct).ConfigureAwait(false);
        _handedCommit = _pendingCommit;
    }

    // ---------------------------------------------------------------- heartbeats and lag

    private async Task HeartbeatAsync(CancellationToken ct)
    {
        var period = _o.HeartbeatInterval > TimeSpan.Zero ? _o.HeartbeatInterval : TimeSpan.FromSeconds(10);
        NpgsqlConnection? conn = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(period, ct).ConfigureAwait(false);
                try
                {
                    if (conn == null) conn = await OpenAsync(ct).ConfigureAwait(false);
                    using var cmd = new NpgsqlCommand(
                        "SELECT wal_status, (pg_current_wal_lsn() - confirmed_flush_lsn)::int8 FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()", conn);
                    cmd.Parameters.Add(new NpgsqlParameter { Value = _o.Slot });
                    string? status = null;
                    long? lag = null;
                    var found = false;
                    using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
                    {
                        if (await r.ReadAsync(ct).ConfigureAwait(false))
                        {
                            found = true;
                            status = r.IsDBNull(0) ? null : r.GetString(0);
                            lag = r.IsDBNull(1) ? null : r.GetInt64(1);
                        }
                    }
                    if (!found) continue; // created by the pump shortly; a slot dropped under a running stream fails the stream
                    if (status == "lost")
                    {
                        Fail(new CdcSlotException($"replication slot '{_o.Slot}' was invalidated while running (wal_status = lost): the server removed WAL it had not delivered. Start over with a fresh run (aietl run --fresh)"));
                        return;
                    }
                    if (lag is { } l) CdcMetrics.SetLag(_o.Slot, l);
                    if (_o.HeartbeatInterval > TimeSpan.Zero)
                    {
                        await ExecAsync(conn, "SELECT pg_logical_emit_message(true, 'aietl_heartbeat', '')", ct).ConfigureAwait(false);
                        CdcMetrics.Heartbeats.Add(1, new KeyValuePair<string, object?>("slot", _o.Slot));
                    }
                }
                catch (Exception e) when (!ct.IsCancellationRequested && IsTransient(e))
                {
                    if (conn != null) await conn.DisposeAsync().ConfigureAwait(false);
                    conn = null;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            if (conn != null) await conn.DisposeAsync().ConfigureAwait(false);
        }
    }

    // ---------------------------------------------------------------- helpers

    private static async Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection conn, string sql, CancellationToken ct, params object[] args)
    {
        using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        var v = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
        return v is DBNull ? null : v;
    }
}
