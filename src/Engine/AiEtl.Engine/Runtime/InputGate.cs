using System.Runtime.CompilerServices;
using System.Diagnostics;
using System.Threading.Channels;
using System.Threading.Tasks.Sources;

namespace AiEtl.Engine.Runtime;

/// <summary>Limits of one edge channel: rows and bytes in flight (not item count: batches vary in size).</summary>
public sealed record EdgeLimits(long MaxRows = 262_144, long MaxBytes = 64L << 20)
{
    public static EdgeLimits Default { get; } = new();
}

/// <summary>
/// Credit of one sender → receiver channel. The sender waits for credit before sending a batch; the
/// receiver returns it after processing, so a slow consumer backpressures its producers (and, through them,
/// the sources). A batch is always admitted into an empty channel, however large.
/// </summary>
/// <remarks>
/// One sender task owns a channel, so at most one acquire waits at a time: the wait is this object itself, a
/// reusable <see cref="IValueTaskSource"/>, and blocking on a full edge allocates nothing (a source under
/// backpressure waits once per batch, for minutes).
/// </remarks>
internal sealed class Credit(EdgeLimits limits) : IValueTaskSource
{
    private readonly Lock _lock = new();
    private long _rows;
    private long _bytes;
    private long _wantRows;
    private long _wantBytes;
    private bool _waiting;
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _registration;

    public long RowsInFlight => Volatile.Read(ref _rows);

    public ValueTask AcquireAsync(long rows, long bytes, CancellationToken ct)
    {
        lock (_lock)
        {
            if (Fits(rows, bytes))
            {
                _rows += rows;
                _bytes += bytes;
                return ValueTask.CompletedTask;
            }
            if (_waiting) throw new InvalidOperationException("a second sender waits for credit on the same channel");
            ct.ThrowIfCancellationRequested();
            _core.Reset();
            _waiting = true;
            _wantRows = rows;
            _wantBytes = bytes;
        }
        if (ct.CanBeCanceled) _registration = ct.UnsafeRegister(static (s, t) => ((Credit)s!).Cancel(t), this);
        return new ValueTask(this, _core.Version);
    }

    private bool Fits(long rows, long bytes) =>
        _rows == 0 || (_rows + rows <= limits.MaxRows && _bytes + bytes <= limits.MaxBytes);

    public void Release(long rows, long bytes)
    {
        lock (_lock)
        {
            _rows -= rows;
            _bytes -= bytes;
            if (!_waiting || !Fits(_wantRows, _wantBytes)) return;
            // Admit the waiting batch here, under the lock, so no other acquire can take its room.
            _rows += _wantRows;
            _bytes += _wantBytes;
            _waiting = false;
        }
        _core.SetResult(true);
    }

    private void Cancel(CancellationToken ct)
    {
        lock (_lock)
        {
            if (!_waiting) return;
            _waiting = false;
        }
        _core.SetException(new OperationCanceledException(ct));
    }

    void IValueTaskSource.GetResult(short token)
    {
        _registration.Dispose();
        _registration = default;
        _core.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

/// <summary>
/// The input of one task instance: N sender channels merged into one queue, each with its own credit,
/// so that a channel blocked for barrier alignment holds its credit and stalls only its own sender.
/// </summary>
internal sealed class InputGate
{
    private readonly Channel<StreamElement> _queue = Channel.CreateUnbounded<StreamElement>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = false });
    private readonly Credit[] _credits;

    public InputGate(int channels, EdgeLimits limits)
    {
        _credits = new Credit[channels];
        for (var i = 0; i < channels; i++) _credits[i] = new Credit(limits);
    }

    public int Channels => _credits.Length;

    /// <summary>Sends on the element's channel; waits for credit when it is a data batch.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendAsync(StreamElement element, EngineMetrics metrics, CancellationToken ct)
    {
        if (element.Kind == ElementKind.Data)
        {
            var credit = _credits[element.Channel];
            var pending = credit.AcquireAsync(element.Batch!.Length, element.Batch.ByteSize, ct);
            if (!pending.IsCompletedSuccessfully)
            {
                var start = Stopwatch.GetTimestamp();
                await pending.ConfigureAwait(false);
                var ticks = Stopwatch.GetTimestamp() - start;
                Interlocked.Add(ref metrics.BackpressureTicks, ticks);
                metrics.BackpressureTime.Add(ticks * 1000.0 / Stopwatch.Frequency);
            }
        }
        if (!_queue.Writer.TryWrite(element))
        {
            element.Batch?.Dispose();
            throw new InvalidOperationException("input gate closed");
        }
    }

    /// <summary>Mailbox messages skip credit and alignment.</summary>
    public void Post(StreamElement element) => _queue.Writer.TryWrite(element);

    public ValueTask<StreamElement> ReceiveAsync(CancellationToken ct) => _queue.Reader.ReadAsync(ct);

    public bool TryReceive(out StreamElement element) => _queue.Reader.TryRead(out element);

    /// <summary>Returns the credit of a processed data batch.</summary>
    public void Release(int channel, long rows, long bytes) => _credits[channel].Release(rows, bytes);

    /// <summary>Disposes batches still queued (abort path).</summary>
    public void Drain()
    {
        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out var e)) e.Batch?.Dispose();
    }
}
