using System.Threading.Tasks.Sources;

namespace AiEtl.Engine.Runtime;

/// <summary>
/// A delay for one waiter at a time that allocates nothing per wait (one timer, rearmed; the wait is this
/// object as a <see cref="IValueTaskSource"/>). For code that sleeps once per batch on the hot path — pacing,
/// a throttled writer — where <see cref="Task.Delay(TimeSpan, CancellationToken)"/> would leave a promise, a
/// timer and a registration behind every time.
/// </summary>
public sealed class ReusableDelay : IValueTaskSource, IDisposable
{
    private readonly Timer _timer;
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _registration;
    private CancellationToken _token;
    private int _pending; // 1 while a wait is armed; whoever swaps it to 0 completes the wait

    public ReusableDelay() => _timer = new Timer(static s => ((ReusableDelay)s!).Fire(), this, Timeout.Infinite, Timeout.Infinite);

    /// <summary>Completes after <paramref name="delay"/> (at once when zero or negative). Await it before the next call.</summary>
    public ValueTask DelayAsync(TimeSpan delay, CancellationToken ct)
    {
        if (ct.IsCancellationRequested) return ValueTask.FromCanceled(ct);
        if (delay <= TimeSpan.Zero) return ValueTask.CompletedTask;
        if (Volatile.Read(ref _pending) != 0) throw new InvalidOperationException("ReusableDelay supports one waiter at a time");
        // Reset before arming: a late callback of a cancelled wait finds nothing pending and does nothing.
        _core.Reset();
        _token = ct;
        Volatile.Write(ref _pending, 1);
        if (ct.CanBeCanceled) _registration = ct.UnsafeRegister(static s => ((ReusableDelay)s!).Cancel(), this);
        _timer.Change(delay, Timeout.InfiniteTimeSpan);
        return new ValueTask(this, _core.Version);
    }

    private void Fire()
    {
        if (Interlocked.Exchange(ref _pending, 0) == 1) _core.SetResult(true);
    }

    private void Cancel()
    {
        if (Interlocked.Exchange(ref _pending, 0) != 1) return;
        // The waiter is completed whatever happens to the timer: a disposed timer throws from Change, and a wait
        // left pending would hang its awaiter for good (and the exception would escape into the token's Cancel).
        try
        {
            _timer.Change(Timeout.Infinite, Timeout.Infinite);
        }
        catch (ObjectDisposedException)
        {
        }
        _core.SetException(new OperationCanceledException(_token));
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

    public void Dispose()
    {
        Cancel();
        _timer.Dispose();
    }
}
