using System.Buffers;
using System.Globalization;
using System.Text.Json;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Apache.Arrow.Types;
using static AiEtl.Engine.ClickHouse.ClickHouseHttp;

namespace AiEtl.Engine.ClickHouse;

/// <summary>
/// One writer instance of <see cref="ClickHouseSink"/>. Encodes each batch into the insert buffer as it arrives
/// (the caller keeps the batch), inserts when the buffer reaches the row or byte limit, when the flush interval
/// passes, and at every checkpoint. Inserts run in the background, one at a time and in order, while the next rows
/// are encoded into a spare buffer (up to two inserts queued or running, three buffers in all), so reading and
/// encoding overlap the server's work. A checkpoint barrier does not wait either (<see cref="IBackgroundPreCommit"/>):
/// it queues the insert of the rows before it and the runtime acknowledges the checkpoint when that insert is done.
/// While ClickHouse is unreachable the insert retries and the next flush blocks once every buffer is taken, so the
/// runtime backpressures; the writer never holds more than its three buffers.
/// </summary>
internal sealed class ClickHouseSinkWriter : ISinkWriter, IBackgroundPreCommit
{
    private readonly ClickHouseSinkOptions _o;
    private readonly Schema _input;
    private readonly ConnectorContext _context;
    private readonly ClickHouseHttp _http;
    private readonly bool _exactlyOnce;
    private readonly string _writerId;
    private readonly string _sinkPrefix;
    private readonly string _queryPrefix;
    private readonly string _table;
    private EncodeBuffer _buffer;      // rows being encoded
    // Inserts run one at a time, in order, each chained after the previous one (and after the settling of a
    // checkpoint); at most MaxBuffers - 1 of them are queued or running, each holding its encoded buffer.
    private const int MaxBuffers = 3;
    private readonly Stack<EncodeBuffer> _spare = new();
    private readonly Queue<(Task Task, EncodeBuffer? Buffer)> _pending = new();
    private Task? _last;
    private int _buffers = 1;
    private readonly RowRejects _rejects = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _lifetime = new();
    private TablePlan? _plan;
    private ConstantWriter? _writerColumn;
    private ConstantWriter? _checkpointColumn;
    private Task? _timer;
    private Exception? _backgroundFailure;
    private int _bufferedRows;
    private long _firstRowAt;
    private long _epoch;               // the checkpoint interval of the rows being encoded now
    private int _insertSeq;
    // The insert side (inserts run one at a time, so only the running one touches these): the interval of the
    // last insert, how many of its rows were inserted, and whether an insert of it failed ambiguously.
    private long _sentEpoch = -1;
    private long _sentRows;
    private bool _sentUncertain;

    public ClickHouseSinkWriter(ClickHouseSinkOptions options, Schema input, ConnectorContext context)
    {
        _o = options;
        _input = input;
        _context = context;
        _http = new ClickHouseHttp(options);
        _exactlyOnce = options.Delivery == DeliveryGuarantee.ExactlyOnce;
        _writerId = ClickHouseSink.WriterId(context.Task.Pipeline, options.Name, context.Task.Index);
        _sinkPrefix = ClickHouseSink.WriterId(context.Task.Pipeline, options.Name, 0)[..^1];
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(_writerId)).AsSpan(0, 6));
        _queryPrefix = $"aietl-{hash}-";
        _table = $"{Ident(options.Database)}.{Ident(options.Table)}";
        // The slack covers block headers and the reservation of the last column written.
        _buffer = new EncodeBuffer(Math.Min(1 << 20, options.BatchBytes), (long)options.BatchBytes + (64 << 10));
    }

    /// <summary>The server's version, known after <see cref="OpenAsync"/>.</summary>
    public ServerVersion Server { get; private set; }
    public string WriterId => _writerId;
    /// <summary>Bytes encoded and not yet inserted.</summary>
    public int BufferedBytes => _buffer.Length;
    /// <summary>The most bytes the insert buffer ever held (never above <c>batch_bytes</c>, barring one row larger than it).</summary>
    public long PeakBufferedBytes { get; private set; }
    public int BufferCapacity => _buffer.Capacity;
    public long Inserts { get; private set; }
    public long Retries { get; private set; }
    public long RowsInserted { get; private set; }
    public long RowsRejected { get; private set; }
    /// <summary>Rows removed from the table by recovery in <see cref="OpenAsync"/>.</summary>
    public long RowsRecovered { get; private set; }
    /// <summary>The encoded, not yet inserted bytes (benchmarks feed them to other clients).</summary>
    internal ReadOnlyMemory<byte> PendingBytesForTests() => _buffer.Memory;

    /// <summary>The checkpoint id the rows being written now are tagged with.</summary>
    public long Epoch => _epoch;

    public async ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct)
    {
        var restored = restoredState == null ? 0 : ReadState(restoredState);
        Server = ServerVersion.Parse(await RetryAsync("SELECT version()", c => _http.ScalarAsync("SELECT version()", c), ct).ConfigureAwait(false));
        if (_o.CreateTable)
        {
            var ddl = TablePlan.CreateTableSql(_input, _o, Server, _exactlyOnce);
            await RetryAsync("CREATE DATABASE", async c => { await _http.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {Ident(_o.Database)}", c).ConfigureAwait(false); return 0; }, ct).ConfigureAwait(false);
            await RetryAsync("CREATE TABLE", async c => { await _http.ExecuteAsync(ddl, c).ConfigureAwait(false); return 0; }, ct).ConfigureAwait(false);
        }
        var where = $"database = {Quote(_o.Database)} AND table = {Quote(_o.Table)}";
        var columns = await RetryAsync("system.columns", c => _http.QueryAsync($"SELECT name, type FROM system.columns WHERE {where}", c), ct).ConfigureAwait(false);
        if (columns.Count == 0)
            throw new ClickHouseSinkException($"clickhouse sink '{_o.Name}': table {_o.QualifiedTable} does not exist; create it or set create_table: true");
        _plan = TablePlan.Create(_input, columns.Select(r => (r[0], r[1])).ToList(), _o, _exactlyOnce);
        if (_exactlyOnce)
        {
            var engine = await RetryAsync("system.tables", c => _http.ScalarAsync($"SELECT engine FROM system.tables WHERE database = {Quote(_o.Database)} AND name = {Quote(_o.Table)}", c), ct).ConfigureAwait(false);
            if (!engine.Contains("MergeTree", StringComparison.Ordinal))
                throw new ClickHouseSinkException($"clickhouse sink '{_o.Name}': delivery: exactly-once needs a MergeTree-family table; {_o.QualifiedTable} is {engine}");
            _writerColumn = ConstantWriter.String(_writerId, _plan.WriterType!.Kind == ChKind.LowCardinality);
            await RecoverAsync(restored, ct).ConfigureAwait(false);
        }
        StartEpoch(restored + 1);
        _timer = Task.Run(() => FlushLoopAsync(_lifetime.Token), CancellationToken.None);
    }

    private void StartEpoch(long epoch)
    {
        _epoch = epoch;
        _insertSeq = 0;
        if (_exactlyOnce) _checkpointColumn = ConstantWriter.Integer((ulong)epoch, 8);
    }

    /// <summary>
    /// Removes what this writer inserted after the restored checkpoint (rows of an interval whose checkpoint never
    /// completed); instance 0 also removes such rows of instances that no longer exist (parallelism lowered).
    /// Waits first until no insert of this writer is still running on the server (a crashed process's last one).
    /// </summary>
    private async Task RecoverAsync(long restored, CancellationToken ct)
    {
        await WaitForInsertsAsync(ct).ConfigureAwait(false);
        var mine = $"{Ident(ClickHouseSinkOptions.WriterColumn)} = {Quote(_writerId)} AND {Ident(ClickHouseSinkOptions.CheckpointColumn)} > {restored.ToString(CultureInfo.InvariantCulture)}";
        RowsRecovered += await DeleteAsync(mine, ct).ConfigureAwait(false);
        if (_context.Task.Index == 0)
        {
            var current = string.Join(", ", Enumerable.Range(0, _context.Task.Parallelism).Select(i => Quote(ClickHouseSink.WriterId(_context.Task.Pipeline, _o.Name, i))));
            var stale = $"startsWith({Ident(ClickHouseSinkOptions.WriterColumn)}, {Quote(_sinkPrefix)}) AND {Ident(ClickHouseSinkOptions.WriterColumn)} NOT IN ({current}) " +
                        $"AND {Ident(ClickHouseSinkOptions.CheckpointColumn)} > {restored.ToString(CultureInfo.InvariantCulture)}";
            RowsRecovered += await DeleteAsync(stale, ct).ConfigureAwait(false);
        }
    }

    private async Task<long> DeleteAsync(string predicate, CancellationToken ct)
    {
        var count = long.Parse(await RetryAsync("recovery count", c => _http.ScalarAsync($"SELECT count() FROM {_table} WHERE {predicate}", c), ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        if (count == 0) return 0;
        if (Server.HasLightweightDelete)
        {
            await RetryAsync("DELETE", async c => { await _http.ExecuteAsync($"DELETE FROM {_table} WHERE {predicate}", c).ConfigureAwait(false); return 0; }, ct).ConfigureAwait(false);
        }
        else
        {
            IReadOnlyDictionary<string, object>? settings = Server.HasMutationsSync ? new Dictionary<string, object> { ["mutations_sync"] = 2 } : null;
            await RetryAsync("ALTER TABLE DELETE", async c => { await _http.ExecuteAsync($"ALTER TABLE {_table} DELETE WHERE {predicate}", c, settings).ConfigureAwait(false); return 0; }, ct).ConfigureAwait(false);
        }
        await WaitForMutationsAsync(ct).ConfigureAwait(false);
        var left = long.Parse(await RetryAsync("recovery check", c => _http.ScalarAsync($"SELECT count() FROM {_table} WHERE {predicate}", c), ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        if (left != 0)
            throw new ClickHouseSinkException($"clickhouse sink '{_o.Name}': recovery could not remove {left} uncommitted rows from {_o.QualifiedTable} ({predicate})");
        return count;
    }

    private async Task WaitForMutationsAsync(CancellationToken ct)
    {
        var deadline = Environment.TickCount64 + (long)Math.Max(_o.MaxRetryTime.TotalMilliseconds, 600_000);
        var delay = 50;
        var failReason = Server.HasMutationsSync ? ", any(latest_fail_reason)" : "";
        while (true)
        {
            var rows = await RetryAsync("system.mutations", c => _http.QueryAsync(
                $"SELECT count(){failReason} FROM system.mutations WHERE database = {Quote(_o.Database)} AND table = {Quote(_o.Table)} AND is_done = 0", c), ct).ConfigureAwait(false);
            if (rows.Count == 0 || rows[0][0] == "0") return;
            if (rows[0].Length > 1 && rows[0][1].Length > 0)
                throw new ClickHouseSinkException($"clickhouse sink '{_o.Name}': a mutation on {_o.QualifiedTable} fails: {rows[0][1]}");
            if (Environment.TickCount64 > deadline)
                throw new ClickHouseSinkException($"clickhouse sink '{_o.Name}': mutations on {_o.QualifiedTable} did not finish in time (see system.mutations)");
            await Task.Delay(delay, ct).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 1000);
        }
    }

    /// <summary>Waits until the server runs no query of this writer (two empty looks, half a second apart).</summary>
    private async Task WaitForInsertsAsync(CancellationToken ct)
    {
        var empty = 0;
        var deadline = Environment.TickCount64 + (long)Math.Max(_o.MaxRetryTime.TotalMilliseconds, 60_000);
        while (empty < 2)
        {
            var n = await RetryAsync("system.processes", c => _http.ScalarAsync(
                $"SELECT count() FROM system.processes WHERE startsWith(query_id, {Quote(_queryPrefix)})", c), ct).ConfigureAwait(false);
            empty = n == "0" ? empty + 1 : 0;
            if (Environment.TickCount64 > deadline)
                throw new ClickHouseSinkException($"clickhouse sink '{_o.Name}': an earlier insert of writer {_writerId} is still running on the server");
            if (empty < 2) await Task.Delay(500, ct).ConfigureAwait(false);
        }
    }

    public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (_plan == null) throw new InvalidOperationException("OpenAsync must be called before WriteAsync");
        if (batch.Length == 0) return;
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfBackgroundFailed();
            await AppendAsync(batch, ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async ValueTask AppendAsync(Batch batch, CancellationToken ct)
    {
        _rejects.Clear();
        foreach (var c in _plan!.Columns)
            if (c.Writer.MayReject) c.Writer.Check(batch.Column(c.Input), 0, batch.Length, c.Name, _rejects);
        if (!_rejects.IsEmpty) DeadLetter(batch);
        var row = 0;
        while (row < batch.Length)
        {
            var end = batch.Length;
            if (!_rejects.IsEmpty)
            {
                while (row < batch.Length && _rejects.Contains(row)) row++;
                end = row;
                while (end < batch.Length && !_rejects.Contains(end)) end++;
            }
            while (row < end)
            {
                if (_bufferedRows >= _o.BatchRows) await FlushAsync(ct).ConfigureAwait(false);
                var n = Math.Min(end - row, _o.BatchRows - _bufferedRows);
                var budget = _o.BatchBytes - _buffer.Length;
                var need = BlockBytes(batch, row, n);
                while (need > budget && n > 1)
                {
                    if (_bufferedRows > 0)
                    {
                        await FlushAsync(ct).ConfigureAwait(false);
                        budget = _o.BatchBytes;
                        if (need <= budget) break;
                    }
                    n = (int)Math.Max(1, Math.Min(n - 1, n * (budget / (double)need) * 0.95));
                    need = BlockBytes(batch, row, n);
                }
                if (need > budget && _bufferedRows > 0) await FlushAsync(ct).ConfigureAwait(false);
                WriteBlock(batch, row, n);
                row += n;
            }
        }
        if (_bufferedRows >= _o.BatchRows) await FlushAsync(ct).ConfigureAwait(false);
    }

    private long BlockBytes(Batch batch, int start, int count)
    {
        long total = 32;
        foreach (var c in _plan!.Columns)
            total += 20 + c.Name.Length * 3 + c.Type.Text.Length + c.Writer.MaxBytes(batch.Column(c.Input), start, count);
        if (_exactlyOnce)
            total += 100 + _plan.WriterType!.Text.Length + _plan.CheckpointType!.Text.Length
                     + _writerColumn!.MaxBytes(null!, start, count) + _checkpointColumn!.MaxBytes(null!, start, count);
        return total;
    }

    private void WriteBlock(Batch batch, int start, int count)
    {
        if (_bufferedRows == 0) _firstRowAt = Environment.TickCount64;
        var plan = _plan!;
        _buffer.WriteVarUInt((ulong)(plan.Columns.Count + (_exactlyOnce ? 2 : 0)));
        _buffer.WriteVarUInt((ulong)count);
        foreach (var c in plan.Columns)
        {
            _buffer.WriteString(c.Name);
            _buffer.WriteString(c.Type.Text);
            c.Writer.Write(batch.Column(c.Input), start, count, _buffer);
        }
        if (_exactlyOnce)
        {
            _buffer.WriteString(ClickHouseSinkOptions.WriterColumn);
            _buffer.WriteString(plan.WriterType!.Text);
            _writerColumn!.Write(null!, start, count, _buffer);
            _buffer.WriteString(ClickHouseSinkOptions.CheckpointColumn);
            _buffer.WriteString(plan.CheckpointType!.Text);
            _checkpointColumn!.Write(null!, start, count, _buffer);
        }
        _bufferedRows += count;
        if (_buffer.Length > PeakBufferedBytes) PeakBufferedBytes = _buffer.Length;
    }

    private void DeadLetter(Batch batch)
    {
        foreach (var (row, reason) in _rejects.Sorted)
        {
            _context.DeadLetters.Write(new DeadLetter
            {
                Source = $"{_context.Task.Vertex}/sink:{_o.Name}",
                Position = [new("table", _o.QualifiedTable), new("instance", _context.Task.Index), new("batch_row", row)],
                ErrorClass = "convert",
                Error = $"{_o.QualifiedTable}: {reason}",
                Raw = RowJson(batch, row),
            });
            Interlocked.Increment(ref _context.Metrics.DeadLetters);
            _context.Metrics.DeadLetterCount.Add(1);
            RowsRejected++;
        }
    }

    /// <summary>
    /// Queues the insert of the buffer behind the inserts already queued (the caller holds the gate) and continues
    /// encoding into a spare buffer; when every buffer is taken, waits for the oldest insert. A failed insert fails
    /// every insert queued after it (none of them is sent), and its failure surfaces here. Retries transient
    /// failures; see <see cref="InsertAsync"/>.
    /// </summary>
    private async ValueTask FlushAsync(CancellationToken ct)
    {
        if (_bufferedRows == 0) return;
        var next = await TakeSpareAsync().ConfigureAwait(false);
        var full = _buffer;
        var rows = _bufferedRows;
        _buffer = next;
        _bufferedRows = 0;
        Enqueue(SendAfterAsync(_last, full, rows, _epoch, ++_insertSeq, ct), full);
    }

    private void Enqueue(Task task, EncodeBuffer? buffer)
    {
        _last = task;
        _pending.Enqueue((task, buffer));
    }

    private async ValueTask<EncodeBuffer> TakeSpareAsync()
    {
        while (true)
        {
            while (_pending.TryPeek(out var head) && head.Task.IsCompleted) await RetireAsync().ConfigureAwait(false);
            if (_spare.TryPop(out var spare)) return spare;
            if (_buffers < MaxBuffers)
            {
                _buffers++;
                return new EncodeBuffer(Math.Min(1 << 20, _o.BatchBytes), (long)_o.BatchBytes + (64 << 10));
            }
            await RetireAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Waits for the oldest queued task and takes its buffer back; rethrows its failure.</summary>
    private async ValueTask RetireAsync()
    {
        var (task, buffer) = _pending.Peek();
        await task.ConfigureAwait(false);
        _pending.Dequeue();
        if (buffer == null) return;
        buffer.Clear();
        _spare.Push(buffer);
    }

    private async Task SendAfterAsync(Task? previous, EncodeBuffer buffer, int rows, long epoch, int seq, CancellationToken ct)
    {
        if (previous != null) await previous.ConfigureAwait(false);
        await SendAsync(buffer, rows, epoch, seq, ct).ConfigureAwait(false);
    }

    private async Task SendAsync(EncodeBuffer buffer, int rows, long epoch, int seq, CancellationToken ct)
    {
        if (epoch != _sentEpoch)
        {
            _sentEpoch = epoch;
            _sentRows = 0;
            _sentUncertain = false;
        }
        await InsertAsync(buffer, rows, epoch, seq, ct).ConfigureAwait(false);
        Inserts++;
        RowsInserted += rows;
        _sentRows += rows;
    }

    /// <summary>
    /// One insert with retries (exponential backoff with jitter, bounded by max_retry_time). In exactly-once mode an
    /// attempt that may have reached the table is checked before the retry: once the attempt no longer runs on the
    /// server, the writer counts its rows of the current checkpoint interval; unchanged → retry, grown by exactly this
    /// insert → done, anything else → fail (recovery from the last checkpoint then removes the interval).
    /// </summary>
    private async Task InsertAsync(EncodeBuffer buffer, int rows, long epoch, int seq, CancellationToken ct)
    {
        var budget = new RetryBudget(_o.MaxRetryTime, _o.InitialBackoff, _o.MaxBackoff);
        for (var attempt = 0; ; attempt++)
        {
            var queryId = $"{_queryPrefix}{epoch.ToString(CultureInfo.InvariantCulture)}-{seq.ToString(CultureInfo.InvariantCulture)}-{attempt.ToString(CultureInfo.InvariantCulture)}";
            ClickHouseSinkException failure;
            try
            {
                await _http.InsertAsync(_plan!.InsertSql, buffer.Memory, queryId, ct).ConfigureAwait(false);
                return;
            }
            catch (ClickHouseSinkException e) when (e.IsTransient)
            {
                failure = e;
            }
            catch (ClickHouseSinkException e)
            {
                throw new ClickHouseSinkException($"clickhouse sink '{_o.Name}': insert into {_o.QualifiedTable} failed: {e.Message}", false, e.ServerCode, e.MayHaveApplied, e);
            }
            Retries++;
            if (_exactlyOnce && failure.MayHaveApplied)
            {
                _sentUncertain = true;
                if (await WasAppliedAsync(queryId, rows, epoch, budget, failure, ct).ConfigureAwait(false)) return;
            }
            if (!await budget.WaitAsync(ct).ConfigureAwait(false)) throw GiveUp(budget, failure);
        }
    }

    private ClickHouseSinkException GiveUp(RetryBudget budget, ClickHouseSinkException last) =>
        new($"clickhouse sink '{_o.Name}': giving up on {_o.QualifiedTable} after {budget.Elapsed.TotalSeconds:0.#}s and {budget.Attempts + 1} attempts (max_retry_time {_o.MaxRetryTime}): {last.Message}",
            false, last.ServerCode, last.MayHaveApplied, last);

    private async Task<bool> WasAppliedAsync(string queryId, int rows, long epoch, RetryBudget budget, ClickHouseSinkException failure, CancellationToken ct)
    {
        while (true)
        {
            try
            {
                var empty = 0;
                while (empty < 2)
                {
                    var running = await _http.ScalarAsync($"SELECT count() FROM system.processes WHERE query_id = {Quote(queryId)}", ct).ConfigureAwait(false);
                    empty = running == "0" ? empty + 1 : 0;
                    if (budget.Elapsed > _o.MaxRetryTime) throw GiveUp(budget, failure);
                    if (empty < 2) await Task.Delay(250, ct).ConfigureAwait(false);
                }
                var count = await EpochRowCountAsync(epoch, ct).ConfigureAwait(false);
                if (count == _sentRows) return false;
                if (count == _sentRows + rows) return true;
                throw new ClickHouseSinkException(
                    $"clickhouse sink '{_o.Name}': cannot tell how much of a failed insert into {_o.QualifiedTable} was applied ({count} rows of checkpoint interval {epoch}, expected {_sentRows} or {_sentRows + rows}); " +
                    $"failing so that the restart from the last checkpoint removes the interval. Cause: {failure.Message}");
            }
            catch (ClickHouseSinkException e) when (e.IsTransient)
            {
                Retries++;
                if (!await budget.WaitAsync(ct).ConfigureAwait(false)) throw GiveUp(budget, e);
            }
        }
    }

    private async Task<long> EpochRowCountAsync(long epoch, CancellationToken ct) => long.Parse(await _http.ScalarAsync(
        $"SELECT count() FROM {_table} WHERE {Ident(ClickHouseSinkOptions.WriterColumn)} = {Quote(_writerId)} AND {Ident(ClickHouseSinkOptions.CheckpointColumn)} = {epoch.ToString(CultureInfo.InvariantCulture)}",
        ct).ConfigureAwait(false), CultureInfo.InvariantCulture);

    /// <summary>Inserts everything written before the barrier and waits until the server has it.</summary>
    public async ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) =>
        await (await BeginPreCommitAsync(checkpointId, ct).ConfigureAwait(false)).ConfigureAwait(false);

    /// <summary>
    /// At a barrier: starts the insert of what is buffered (after the insert in flight, if any: still one at a time)
    /// and returns at once; rows written from now on are the next interval's. The returned task completes with the
    /// checkpoint state when every row before the barrier is in the table (exactly-once: and the interval's row
    /// count checks out after an ambiguous failure), so the runtime acknowledges the checkpoint only then. The next
    /// insert waits for that task, so no row of the next interval reaches the table before this one is settled.
    /// </summary>
    public async ValueTask<Task<byte[]?>> BeginPreCommitAsync(long checkpointId, CancellationToken ct)
    {
        if (_plan == null) throw new InvalidOperationException("OpenAsync must be called before PreCommitAsync");
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfBackgroundFailed();
            if (_exactlyOnce && checkpointId < _epoch)
                throw new InvalidOperationException($"checkpoint {checkpointId} is older than the interval being written ({_epoch}); checkpoint ids must increase");
            await FlushAsync(ct).ConfigureAwait(false);
            var epoch = _epoch;
            if (_exactlyOnce) StartEpoch(checkpointId + 1);
            var done = SettleAsync(_last, epoch, checkpointId, ct);
            Enqueue(done, null);
            return done;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<byte[]?> SettleAsync(Task? last, long epoch, long checkpointId, CancellationToken ct)
    {
        if (last != null) await last.ConfigureAwait(false);
        if (!_exactlyOnce) return null;
        if (_sentEpoch == epoch && _sentUncertain)
        {
            // An insert of this interval failed ambiguously: make sure the table holds each row once before it counts.
            var count = await RetryAsync("checkpoint verification", c => EpochRowCountAsync(epoch, c), ct).ConfigureAwait(false);
            if (count != _sentRows)
                throw new ClickHouseSinkException($"clickhouse sink '{_o.Name}': {_o.QualifiedTable} holds {count} rows of checkpoint interval {epoch} where {_sentRows} were inserted; failing so that recovery removes them");
        }
        return WriteState(checkpointId);
    }

    /// <summary>Nothing to do: the rows are in the table since the pre-commit; the checkpoint now makes them final (recovery keeps them).</summary>
    public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;

    private async Task FlushLoopAsync(CancellationToken ct)
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(_o.FlushInterval.TotalMilliseconds / 4, 10, 1000));
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(period, ct).ConfigureAwait(false);
                if (Volatile.Read(ref _bufferedRows) == 0 || Environment.TickCount64 - Volatile.Read(ref _firstRowAt) < _o.FlushInterval.TotalMilliseconds) continue;
                if (!await _gate.WaitAsync(0, ct).ConfigureAwait(false)) continue;
                try
                {
                    if (_backgroundFailure == null && _bufferedRows > 0 && Environment.TickCount64 - _firstRowAt >= _o.FlushInterval.TotalMilliseconds)
                        await FlushAsync(ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    _backgroundFailure = e;
                }
                finally
                {
                    _gate.Release();
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private void ThrowIfBackgroundFailed()
    {
        if (_backgroundFailure is { } e) throw new ClickHouseSinkException(e.Message, e);
    }

    /// <summary>Runs a metadata query or DDL, retrying transient failures within max_retry_time.</summary>
    private async Task<T> RetryAsync<T>(string what, Func<CancellationToken, Task<T>> op, CancellationToken ct)
    {
        var budget = new RetryBudget(_o.MaxRetryTime, _o.InitialBackoff, _o.MaxBackoff);
        while (true)
        {
            try
            {
                return await op(ct).ConfigureAwait(false);
            }
            catch (ClickHouseSinkException e) when (e.IsTransient)
            {
                Retries++;
                if (!await budget.WaitAsync(ct).ConfigureAwait(false))
                    throw new ClickHouseSinkException($"clickhouse sink '{_o.Name}': {what} on {_o.QualifiedTable}: giving up after {budget.Elapsed.TotalSeconds:0.#}s: {e.Message}", false, e.ServerCode, inner: e);
            }
            catch (ClickHouseSinkException e)
            {
                throw new ClickHouseSinkException($"clickhouse sink '{_o.Name}': {what} on {_o.QualifiedTable} failed: {e.Message}", false, e.ServerCode, inner: e);
            }
        }
    }

    private byte[] WriteState(long checkpointId)
    {
        var buf = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf))
        {
            w.WriteStartObject();
            w.WriteNumber("v", 1);
            w.WriteString("table", _o.QualifiedTable);
            w.WriteString("writer", _writerId);
            w.WriteNumber("checkpoint", checkpointId);
            w.WriteEndObject();
        }
        return buf.WrittenSpan.ToArray();
    }

    private long ReadState(byte[] state)
    {
        using var doc = JsonDocument.Parse(state);
        var root = doc.RootElement;
        if (!root.TryGetProperty("v", out var v) || v.GetInt32() != 1 || !root.TryGetProperty("checkpoint", out var cp))
            throw new InvalidDataException($"clickhouse sink '{_o.Name}': the restored state is not a version-1 ClickHouse sink state; was the sink kind changed between runs?");
        var table = root.GetProperty("table").GetString();
        if (table != _o.QualifiedTable)
            throw new InvalidDataException($"clickhouse sink '{_o.Name}': the restored state belongs to table {table}, not {_o.QualifiedTable}; start fresh to change the table");
        return cp.GetInt64();
    }

    /// <summary>A row as a JSON object (the raw bytes of a sink-level dead letter).</summary>
    internal static byte[] RowJson(Batch batch, int row)
    {
        var buf = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf))
        {
            w.WriteStartObject();
            for (var c = 0; c < batch.Data.ColumnCount; c++)
            {
                w.WritePropertyName(batch.Schema.FieldsList[c].Name);
                WriteValue(w, batch.Column(c), row);
            }
            w.WriteEndObject();
        }
        return buf.WrittenSpan.ToArray();
    }

    private static void WriteValue(Utf8JsonWriter w, IArrowArray a, int i)
    {
        if (a.IsNull(i))
        {
            w.WriteNullValue();
            return;
        }
        switch (a)
        {
            case BooleanArray b: w.WriteBooleanValue(b.GetValue(i) == true); break;
            case Int32Array x: w.WriteNumberValue(x.GetValue(i)!.Value); break;
            case Int64Array x: w.WriteNumberValue(x.GetValue(i)!.Value); break;
            case DoubleArray x when double.IsFinite(x.GetValue(i)!.Value): w.WriteNumberValue(x.GetValue(i)!.Value); break;
            case DoubleArray x: w.WriteStringValue(x.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture)); break;
            case StringArray x: w.WriteStringValue(x.GetString(i)); break;
            case TimestampArray x:
                var us = Gather(x, i);
                // Outside DateTime's range (the very values a sink may reject) the raw microseconds are kept.
                if (us > -62_135_596_800_000_000 && us < 253_402_300_800_000_000)
                    w.WriteStringValue(DateTime.UnixEpoch.AddTicks(us * 10).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
                else
                    w.WriteNumberValue(us);
                break;
            case Date32Array x:
                var day = (long)DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + x.GetValue(i)!.Value;
                if (day >= 0 && day <= DateOnly.MaxValue.DayNumber) w.WriteStringValue(DateOnly.FromDayNumber((int)day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
                else w.WriteNumberValue(x.GetValue(i)!.Value);
                break;
            case ListArray l:
                w.WriteStartArray();
                for (var k = l.ValueOffsets[i]; k < l.ValueOffsets[i + 1]; k++) WriteValue(w, l.Values, k);
                w.WriteEndArray();
                break;
            default: w.WriteStringValue(a.Data.DataType.Name); break;
        }
    }

    private static long Gather(TimestampArray x, int i) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(x.ValueBuffer.Span)[x.Offset + i];

    public async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync().ConfigureAwait(false);
        if (_timer != null) await _timer.ConfigureAwait(false);
        while (_pending.TryDequeue(out var pending))
        {
            // Not settled by a checkpoint (the pipeline failed or stopped without one): nothing here may be counted
            // as delivered, so its outcome only needs observing.
            try
            {
                await pending.Task.ConfigureAwait(false);
            }
            catch (Exception e) when (e is ClickHouseSinkException or OperationCanceledException or HttpRequestException)
            {
            }
        }
        _lifetime.Dispose();
        _gate.Dispose();
        _http.Dispose();
    }
}
