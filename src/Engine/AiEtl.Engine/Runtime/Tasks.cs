using System.Diagnostics;
using System.Threading.Channels;
using Apache.Arrow;

namespace AiEtl.Engine.Runtime;

/// <summary>An operator chain fused into one task, ending in the router.</summary>
internal sealed class Chain
{
    private readonly Operator[] _ops;
    private readonly string[] _uids;
    private readonly IOutput[] _outs;
    private readonly Router _router;
    private readonly EngineMetrics _metrics;
    private readonly KeyValuePair<string, object?> _firstTag;

    public Chain(IReadOnlyList<Operator> ops, IReadOnlyList<string> uids, Router router, EngineMetrics metrics)
    {
        _ops = [.. ops];
        _uids = [.. uids];
        _router = router;
        _metrics = metrics;
        _outs = new IOutput[_ops.Length];
        for (var k = 0; k < _ops.Length; k++)
            _outs[k] = k == _ops.Length - 1 ? new Link(null, router, metrics, _ops[k].Name) : new Link(_ops[k + 1], null, metrics, _ops[k].Name);
        for (var k = 0; k < _ops.Length - 1; k++) ((Link)_outs[k]).NextOut = _outs[k + 1];
        _firstTag = new("operator", _ops.Length > 0 ? _ops[0].Name : "router");
    }

    public IReadOnlyList<Operator> Operators => _ops;
    public Router Router => _router;

    public ValueTask PushAsync(Batch batch, CancellationToken ct)
    {
        _metrics.RowsIn.Add(batch.Length, _firstTag);
        _metrics.BytesIn.Add(batch.ByteSize, _firstTag);
        return _ops.Length == 0 ? _router.EmitAsync(batch, ct) : _ops[0].ProcessAsync(batch, _outs[0], ct);
    }

    public async ValueTask WatermarkAsync(long wm, CancellationToken ct)
    {
        for (var k = 0; k < _ops.Length; k++) await _ops[k].OnWatermarkAsync(wm, _outs[k], ct).ConfigureAwait(false);
        await _router.SignalAsync(StreamElement.Watermark(0, wm), ct).ConfigureAwait(false);
    }

    public async ValueTask EndOfInputAsync(CancellationToken ct)
    {
        for (var k = 0; k < _ops.Length; k++) await _ops[k].OnEndOfInputAsync(_outs[k], ct).ConfigureAwait(false);
        await _router.SignalAsync(StreamElement.End(0), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Snapshots every operator into <paramref name="into"/>; sinks whose writers pre-commit in the background
    /// (<see cref="IBackgroundPreCommit"/>) are started and added to <paramref name="pending"/> instead.
    /// </summary>
    public async ValueTask SnapshotAsync(long id, int instance, List<KeyValuePair<string, byte[]>> into, List<(string Key, Task<byte[]?> State)> pending, CancellationToken ct)
    {
        for (var k = 0; k < _ops.Length; k++)
        {
            var key = CheckpointData.Key(_uids[k], instance);
            if (_ops[k] is SinkOperator { BackgroundPreCommit: { } background })
            {
                var task = await background.BeginPreCommitAsync(id, ct).ConfigureAwait(false);
                if (!task.IsCompletedSuccessfully) pending.Add((key, task));
                else if (task.Result is { } done) into.Add(new(key, done));
                continue;
            }
            var s = await _ops[k].SnapshotAsync(id, ct).ConfigureAwait(false);
            if (s != null) into.Add(new(key, s));
        }
    }

    public async ValueTask CompleteAsync(long id, CancellationToken ct)
    {
        foreach (var op in _ops) await op.OnCheckpointCompleteAsync(id, ct).ConfigureAwait(false);
    }

    public async ValueTask OpenAsync(OperatorContext ctx, StateRestore? restore, int instance, int parallelism, CancellationToken ct)
    {
        for (var k = 0; k < _ops.Length; k++)
        {
            var (single, all) = restore?.For(_uids[k], instance, parallelism) ?? default;
            if (all != null) await _ops[k].OpenRescaledAsync(ctx, all, instance, parallelism, ct).ConfigureAwait(false);
            else await _ops[k].OpenAsync(ctx, single, ct).ConfigureAwait(false);
        }
    }

    public async ValueTask CloseAsync()
    {
        foreach (var op in _ops) await op.CloseAsync().ConfigureAwait(false);
    }

    private sealed class Link(Operator? next, IOutput? last, EngineMetrics metrics, string name) : IOutput
    {
        private readonly KeyValuePair<string, object?> _tag = new("operator", name);
        private readonly KeyValuePair<string, object?> _nextTag = new("operator", next?.Name);
        public IOutput? NextOut;

        public ValueTask EmitAsync(Batch batch, CancellationToken ct)
        {
            metrics.RowsOut.Add(batch.Length, _tag);
            metrics.BytesOut.Add(batch.ByteSize, _tag);
            if (next == null) return last!.EmitAsync(batch, ct);
            // A fused operator's input is its predecessor's output: count it as that operator's rows in.
            metrics.RowsIn.Add(batch.Length, _nextTag);
            metrics.BytesIn.Add(batch.ByteSize, _nextTag);
            return next.ProcessAsync(batch, NextOut!, ct);
        }
    }
}

internal abstract class TaskBase
{
    protected TaskBase(JobRunner runner, JobVertex vertex, int index, Chain chain)
    {
        Runner = runner;
        Vertex = vertex;
        Index = index;
        Chain = chain;
        Info = new TaskInfo { Pipeline = runner.Graph.Name, Vertex = vertex.Name, Index = index, Parallelism = vertex.Parallelism };
    }

    public JobRunner Runner { get; }
    public JobVertex Vertex { get; }
    public int Index { get; }
    public Chain Chain { get; }
    public TaskInfo Info { get; }

    public abstract void Post(StreamElement message);
    public abstract Task RunAsync(CancellationToken ct);

    protected OperatorContext Context => new() { Task = Info, Metrics = Runner.Metrics, DeadLetters = Runner.DeadLetters };

    private Task? _pendingAck;
    private Exception? _ackFailure;

    protected async ValueTask AcknowledgeAsync(long id, byte[]? sourcePosition, CancellationToken ct)
    {
        var states = new List<KeyValuePair<string, byte[]>>();
        if (sourcePosition != null) states.Add(new(CheckpointData.Key(Vertex.Name, Index), sourcePosition));
        var pending = new List<(string Key, Task<byte[]?> State)>();
        await Chain.SnapshotAsync(id, Index, states, pending, ct).ConfigureAwait(false);
        // Dead letters written before the barrier must be durable before the checkpoint counts.
        await Runner.DeadLetters.FlushAsync(ct).ConfigureAwait(false);
        if (pending.Count == 0)
        {
            Runner.Coordinator.Acknowledge(id, states);
            return;
        }
        // A sink is still making the rows before the barrier durable: the task goes on with the next rows and the
        // acknowledgement follows when the sink is done (the checkpoint cannot complete before).
        _pendingAck = AcknowledgeLaterAsync(id, states, pending, ct);
    }

    private async Task AcknowledgeLaterAsync(long id, List<KeyValuePair<string, byte[]>> states, List<(string Key, Task<byte[]?> State)> pending, CancellationToken ct)
    {
        try
        {
            foreach (var (key, task) in pending)
                if (await task.ConfigureAwait(false) is { } s) states.Add(new(key, s));
            // Completing the checkpoint (writing it to the store) may fail too: that also fails this task.
            if (!ct.IsCancellationRequested) Runner.Coordinator.Acknowledge(id, states);
        }
        catch (Exception e)
        {
            Volatile.Write(ref _ackFailure, e);
            Post(StreamElement.AckFailed(id));
        }
    }

    /// <summary>Rethrows the failure of a background pre-commit (on the <see cref="ElementKind.AckFailed"/> message).</summary>
    protected void ThrowAckFailure(long id)
    {
        var e = Volatile.Read(ref _ackFailure) ?? new InvalidOperationException($"the pre-commit of checkpoint {id} failed");
        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
    }

    /// <summary>Waits for a background acknowledgement still running when the task ends (its failure was reported already).</summary>
    protected async ValueTask AwaitPendingAckAsync()
    {
        if (_pendingAck is not { } t) return;
        _pendingAck = null;
        try
        {
            await t.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // AcknowledgeLaterAsync catches the pre-commit's failures itself; anything here was already surfaced.
        }
    }
}

/// <summary>Reads one share of a source and pushes it through the fused chain; injects barriers between batches.</summary>
internal sealed class SourceTask : TaskBase
{
    private readonly Channel<StreamElement> _mailbox = Channel.CreateUnbounded<StreamElement>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationToken _stop;
    private ISourceReader? _reader;
    private long _watermark = long.MinValue;
    private int _tsColumn = -1;
    private long _maxOutOfOrderMicros;
    private long _maxEventTime = long.MinValue;
    private ISplitEventTime? _splitTime;
    private TimeSpan? _idleTimeout;
    private bool _idle;
    private long _lastData = Stopwatch.GetTimestamp();

    public SourceTask(JobRunner runner, JobVertex vertex, int index, Chain chain, CancellationToken stop) : base(runner, vertex, index, chain) => _stop = stop;

    public override void Post(StreamElement message) => _mailbox.Writer.TryWrite(message);

    public override async Task RunAsync(CancellationToken ct)
    {
        var source = Vertex.Source!;
        _reader = source.CreateReader(new ConnectorContext { Task = Info, DeadLetters = Runner.DeadLetters, Metrics = Runner.Metrics });
        try
        {
            if (Runner.Restore?.For(Vertex.Name, Index, Vertex.Parallelism).Single is { } pos)
                _reader.RestorePosition(pos);
            if (Vertex.EventTime is { } et)
            {
                _tsColumn = source.Schema.GetFieldIndex(et.Column);
                _maxOutOfOrderMicros = (long)(et.MaxOutOfOrderness.Ticks / 10);
                _idleTimeout = et.IdleTimeout;
                if (_reader is ISplitEventTime split)
                {
                    split.TrackEventTime(_tsColumn);
                    _splitTime = split;
                }
            }
            await Chain.OpenAsync(Context, Runner.Restore, Index, Vertex.Parallelism, ct).ConfigureAwait(false);
            Runner.SourceAssigned();
            using var readCts = CancellationTokenSource.CreateLinkedTokenSource(ct, _stop);
            var ended = false;
            while (true)
            {
                while (_mailbox.Reader.TryRead(out var m))
                    if (await HandleAsync(m, ct).ConfigureAwait(false)) return;
                if (ended)
                {
                    var m = await _mailbox.Reader.ReadAsync(ct).ConfigureAwait(false);
                    if (await HandleAsync(m, ct).ConfigureAwait(false)) return;
                    continue;
                }
                Batch? batch = null;
                if (!_stop.IsCancellationRequested)
                {
                    try
                    {
                        batch = await _reader.ReadNextBatchAsync(readCts.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (_stop.IsCancellationRequested && !ct.IsCancellationRequested)
                    {
                        batch = null;
                    }
                }
                if (batch == null)
                {
                    ended = true;
                    await Chain.EndOfInputAsync(ct).ConfigureAwait(false);
                    Runner.SourceFinished();
                    continue;
                }
                if (batch.Length == 0)
                {
                    batch.Dispose();
                    // A split that caught up no longer holds the watermark back (an idle share stays idle until data comes).
                    if (_splitTime != null && !_idle && SplitWatermark() is var caughtUp && caughtUp > _watermark)
                    {
                        _watermark = caughtUp;
                        await Chain.WatermarkAsync(caughtUp, ct).ConfigureAwait(false);
                    }
                    // An idle share must not hold back the watermark downstream (DESIGN: idle partitions).
                    if (_idleTimeout is { } idle && !_idle && Stopwatch.GetElapsedTime(_lastData) >= idle)
                    {
                        _idle = true;
                        await Chain.Router.SignalAsync(StreamElement.Watermark(0, StreamElement.IdleWatermark), ct).ConfigureAwait(false);
                    }
                    continue;
                }
                _lastData = Stopwatch.GetTimestamp();
                if (_idle)
                {
                    // Active again: re-announce the current watermark so the channel counts again.
                    _idle = false;
                    if (_watermark != long.MinValue) await Chain.Router.SignalAsync(StreamElement.Watermark(0, _watermark), ct).ConfigureAwait(false);
                }
                Interlocked.Add(ref Runner.Metrics.SourceRows, batch.Length);
                var wm = NextWatermark(batch);
                var start = Stopwatch.GetTimestamp();
                await Chain.PushAsync(batch, ct).ConfigureAwait(false);
                Runner.Metrics.BatchLatency.Record(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                if (wm > _watermark)
                {
                    _watermark = wm;
                    Runner.Metrics.WatermarkLagMs = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10_000.0 - wm / 1000.0;
                    await Chain.WatermarkAsync(wm, ct).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await AwaitPendingAckAsync().ConfigureAwait(false);
            await Chain.CloseAsync().ConfigureAwait(false);
            await _reader.DisposeAsync().ConfigureAwait(false);
        }
    }

    private long SplitWatermark()
    {
        var floor = _splitTime!.EventTimeFloor;
        return floor == long.MinValue ? long.MinValue : floor - _maxOutOfOrderMicros;
    }

    private long NextWatermark(Batch batch)
    {
        if (_tsColumn < 0) return long.MinValue;
        if (_splitTime != null) return SplitWatermark();
        var col = batch.Column(_tsColumn);
        var values = Kernels.Gather.Values<long>(col);
        var bits = col.Data.Buffers[0].Span;
        var off = col.Data.Offset;
        var max = _maxEventTime;
        if (col.NullCount == 0)
        {
            var m = System.Numerics.Tensors.TensorPrimitives.Max(values);
            if (m > max) max = m;
        }
        else
        {
            for (var i = 0; i < values.Length; i++)
                if (Kernels.Gather.IsValid(bits, off, i) && values[i] > max) max = values[i];
        }
        _maxEventTime = max;
        return max == long.MinValue ? long.MinValue : max - _maxOutOfOrderMicros;
    }

    private async ValueTask<bool> HandleAsync(StreamElement m, CancellationToken ct)
    {
        switch (m.Kind)
        {
            case ElementKind.Barrier:
                await AcknowledgeAsync(m.Value, _reader!.SnapshotPosition(), ct).ConfigureAwait(false);
                await Chain.Router.SignalAsync(StreamElement.Barrier(0, m.Value), ct).ConfigureAwait(false);
                return false;
            case ElementKind.CheckpointComplete:
                await _reader!.OnCheckpointCompleteAsync(m.Value, ct).ConfigureAwait(false);
                await Chain.CompleteAsync(m.Value, ct).ConfigureAwait(false);
                return false;
            case ElementKind.Close:
                return true;
            case ElementKind.AckFailed:
                ThrowAckFailure(m.Value);
                return true;
            default:
                throw new InvalidOperationException($"unexpected mailbox message {m.Kind}");
        }
    }
}

/// <summary>Receives from its input channels, aligns barriers, tracks watermarks, runs its chain.</summary>
internal sealed class OperatorTask : TaskBase
{
    private readonly InputGate _gate;
    private readonly Queue<StreamElement>[] _pending;
    private readonly bool[] _blocked;
    private readonly bool[] _ended;
    private readonly long[] _watermarks;
    private int _arrived;
    private long _aligning;
    private long _watermark = long.MinValue;
    private int _endedCount;
    private bool _outputIdle;

    public OperatorTask(JobRunner runner, JobVertex vertex, int index, Chain chain, InputGate gate) : base(runner, vertex, index, chain)
    {
        _gate = gate;
        var n = gate.Channels;
        _pending = new Queue<StreamElement>[n];
        for (var i = 0; i < n; i++) _pending[i] = new Queue<StreamElement>();
        _blocked = new bool[n];
        _ended = new bool[n];
        _watermarks = new long[n];
        System.Array.Fill(_watermarks, long.MinValue);
    }

    public override void Post(StreamElement message) => _gate.Post(message);

    public override async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await Chain.OpenAsync(Context, Runner.Restore, Index, Vertex.Parallelism, ct).ConfigureAwait(false);
            while (true)
            {
                if (!TryTakePending(out var e)) e = await _gate.ReceiveAsync(ct).ConfigureAwait(false);
                if (e.Channel >= 0 && _blocked[e.Channel])
                {
                    _pending[e.Channel].Enqueue(e);
                    continue;
                }
                switch (e.Kind)
                {
                    case ElementKind.Data:
                    {
                        var rows = e.Batch!.Length;
                        var bytes = e.Batch.ByteSize;
                        var start = Stopwatch.GetTimestamp();
                        try
                        {
                            await Chain.PushAsync(e.Batch, ct).ConfigureAwait(false);
                        }
                        finally
                        {
                            _gate.Release(e.Channel, rows, bytes);
                        }
                        Runner.Metrics.BatchLatency.Record(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                        break;
                    }
                    case ElementKind.Watermark:
                        _watermarks[e.Channel] = e.Value;
                        await AdvanceWatermarkAsync(ct).ConfigureAwait(false);
                        break;
                    case ElementKind.Barrier:
                        await OnBarrierAsync(e, ct).ConfigureAwait(false);
                        break;
                    case ElementKind.End:
                        _ended[e.Channel] = true;
                        if (++_endedCount == _ended.Length) await Chain.EndOfInputAsync(ct).ConfigureAwait(false);
                        else await AdvanceWatermarkAsync(ct).ConfigureAwait(false);
                        break;
                    case ElementKind.CheckpointComplete:
                        await Chain.CompleteAsync(e.Value, ct).ConfigureAwait(false);
                        break;
                    case ElementKind.Close:
                        return;
                    case ElementKind.AckFailed:
                        ThrowAckFailure(e.Value);
                        return;
                }
            }
        }
        finally
        {
            await AwaitPendingAckAsync().ConfigureAwait(false);
            await Chain.CloseAsync().ConfigureAwait(false);
            if (ct.IsCancellationRequested)
            {
                _gate.Drain();
                foreach (var q in _pending)
                    while (q.TryDequeue(out var p)) p.Batch?.Dispose();
            }
        }
    }

    private bool TryTakePending(out StreamElement e)
    {
        for (var c = 0; c < _pending.Length; c++)
        {
            if (!_blocked[c] && _pending[c].Count > 0)
            {
                e = _pending[c].Dequeue();
                return true;
            }
        }
        e = default;
        return false;
    }

    private async ValueTask OnBarrierAsync(StreamElement e, CancellationToken ct)
    {
        if (_arrived == 0) _aligning = e.Value;
        else if (e.Value != _aligning) throw new InvalidOperationException($"barrier {e.Value} arrived while aligning {_aligning}");
        _blocked[e.Channel] = true;
        if (++_arrived < _blocked.Length) return;
        await AcknowledgeAsync(e.Value, null, ct).ConfigureAwait(false);
        await Chain.Router.SignalAsync(StreamElement.Barrier(0, e.Value), ct).ConfigureAwait(false);
        _arrived = 0;
        System.Array.Clear(_blocked);
    }

    private async ValueTask AdvanceWatermarkAsync(CancellationToken ct)
    {
        var min = long.MaxValue;
        var any = false;
        for (var c = 0; c < _watermarks.Length; c++)
        {
            if (_ended[c] || _watermarks[c] == StreamElement.IdleWatermark) continue;
            any = true;
            if (_watermarks[c] < min) min = _watermarks[c];
        }
        if (!any)
        {
            // Every open input is idle: tell downstream so that it does not wait for us either.
            if (!_outputIdle && _endedCount < _ended.Length)
            {
                _outputIdle = true;
                await Chain.Router.SignalAsync(StreamElement.Watermark(0, StreamElement.IdleWatermark), ct).ConfigureAwait(false);
            }
            return;
        }
        if (_outputIdle)
        {
            _outputIdle = false;
            if (_watermark != long.MinValue && min <= _watermark)
                await Chain.Router.SignalAsync(StreamElement.Watermark(0, _watermark), ct).ConfigureAwait(false);
        }
        if (min <= _watermark || min == long.MinValue) return;
        _watermark = min;
        await Chain.WatermarkAsync(min, ct).ConfigureAwait(false);
    }
}
