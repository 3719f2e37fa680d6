using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace AiEtl.Engine.Runtime;

/// <summary>
/// Triggers checkpoints at the sources, collects every task's acknowledgement (its operator states and
/// source position, taken when the aligned barrier passed it), writes the checkpoint atomically and then
/// tells every task that it completed (sinks commit, sources acknowledge upstream).
/// </summary>
internal sealed class CheckpointCoordinator
{
    private readonly Lock _lock = new();
    private readonly ICheckpointStore _store;
    private readonly string _fingerprint;
    private readonly IReadOnlyDictionary<string, OperatorIdentity> _identities;
    private readonly OffThreadLog _log;
    private readonly string? _savepoint;
    private readonly EngineMetrics _metrics;
    private readonly int _expectedAcks;
    private readonly Action<long> _notifyComplete;
    private readonly Action<long> _injectBarrier;
    private long _lastId;
    private long _pendingId;
    private long _pendingStart;
    private Dictionary<string, byte[]>? _pendingStates;
    private int _acks;

    public CheckpointCoordinator(ICheckpointStore store, string fingerprint, IReadOnlyDictionary<string, OperatorIdentity> identities,
        EngineMetrics metrics, int expectedAcks, long lastCompletedId, Action<long> injectBarrier, Action<long> notifyComplete,
        OffThreadLog log, string? savepoint)
    {
        _store = store;
        _fingerprint = fingerprint;
        _identities = identities;
        _log = log;
        _savepoint = savepoint;
        _metrics = metrics;
        _expectedAcks = expectedAcks;
        _lastId = lastCompletedId;
        _injectBarrier = injectBarrier;
        _notifyComplete = notifyComplete;
    }

    public long FinalCheckpointId { get; private set; } = -1;
    public long LastCompletedId { get; private set; }
    public bool InProgress { get { lock (_lock) return _pendingId != 0; } }

    private bool _finalRequested;

    /// <summary>Every source has ended (or stopped): take the final checkpoint now or right after the one in flight.</summary>
    public void RequestFinal()
    {
        lock (_lock) _finalRequested = true;
        TryTrigger(final: true);
    }

    /// <summary>Starts a checkpoint unless one is in flight; returns its id or 0.</summary>
    public long TryTrigger(bool final)
    {
        long id;
        lock (_lock)
        {
            if (_pendingId != 0 || FinalCheckpointId > 0) return 0;
            id = ++_lastId;
            _pendingId = id;
            _pendingStart = Stopwatch.GetTimestamp();
            _pendingStates = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            _acks = 0;
            if (final) FinalCheckpointId = id;
        }
        _injectBarrier(id);
        return id;
    }

    /// <summary>A task passed barrier <paramref name="id"/> and snapshotted.</summary>
    public void Acknowledge(long id, IEnumerable<KeyValuePair<string, byte[]>> states)
    {
        CheckpointData? done = null;
        lock (_lock)
        {
            if (id != _pendingId) throw new InvalidOperationException($"acknowledgement for checkpoint {id} while {_pendingId} is pending");
            foreach (var (k, v) in states) _pendingStates![k] = v;
            if (++_acks < _expectedAcks) return;
            done = new CheckpointData { Id = id, PlanFingerprint = _fingerprint, CreatedUtc = DateTime.UtcNow, States = _pendingStates!, Operators = _identities };
        }
        _store.Write(done);
        var final = id == FinalCheckpointId;
        if (final && _savepoint != null)
        {
            // Written before the sinks commit: a savepoint never points past what a crash would keep.
            _store.WriteSavepoint(_savepoint, done);
            var savepoint = _savepoint;
            _log.Post(LogLevel.Information, l => EngineLog.SavepointWritten(l, savepoint, id));
        }
        var ms = Stopwatch.GetElapsedTime(_pendingStart).TotalMilliseconds;
        _metrics.CheckpointDuration.Record(ms);
        _metrics.CheckpointSize.Record(done.SizeBytes);
        Interlocked.Increment(ref _metrics.CheckpointsCompleted);
        // Tell every task before the next checkpoint can start: each task then sees "checkpoint N complete"
        // before the barrier of N+1, so sinks never hold uncommitted data of a completed checkpoint.
        lock (_lock) LastCompletedId = id;
        _notifyComplete(id);
        // Posted once the tasks have been told, and written off this task thread (see OffThreadLog).
        var bytes = done.SizeBytes;
        if (final) _log.Post(LogLevel.Information, l => EngineLog.FinalCheckpointCompleted(l, id, ms, bytes));
        else _log.Post(LogLevel.Debug, l => EngineLog.CheckpointCompleted(l, id, ms, bytes));
        bool triggerFinal;
        lock (_lock)
        {
            _pendingId = 0;
            _pendingStates = null;
            triggerFinal = _finalRequested && FinalCheckpointId < 0;
        }
        if (triggerFinal) TryTrigger(final: true);
    }
}
