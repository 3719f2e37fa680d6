using System.Diagnostics;
using System.Threading.Channels;

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
internal sealed class Credit(EdgeLimits limits)
{
    private readonly Lock _lock = new();
    private long _rows;
    private long _bytes;
    private long _wantRows;
    private long _wantBytes;
    private TaskCompletionSource? _waiter;

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
        }
        return AcquireSlowAsync(rows, bytes, ct);
    }

    private bool Fits(long rows, long bytes) =>
        _rows == 0 || (_rows + rows <= limits.MaxRows && _bytes + bytes <= limits.MaxBytes);

    private async ValueTask AcquireSlowAsync(long rows, long bytes, CancellationToken ct)
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                if (Fits(rows, bytes))
                {
                    _rows += rows;
                    _bytes += bytes;
                    _waiter = null;
                    return;
                }
                _waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _wantRows = rows;
                _wantBytes = bytes;
                wait = _waiter.Task;
            }
            await wait.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    public void Release(long rows, long bytes)
    {
        TaskCompletionSource? wake = null;
        lock (_lock)
        {
            _rows -= rows;
            _bytes -= bytes;
            if (_waiter != null && Fits(_wantRows, _wantBytes))
            {
                wake = _waiter;
                _waiter = null;
            }
        }
        wake?.TrySetResult();
    }
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
