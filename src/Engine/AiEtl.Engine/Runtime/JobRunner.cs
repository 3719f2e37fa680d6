using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AiEtl.Engine.Runtime;

/// <summary>How a job runs: checkpointing, dead letters, metrics, edge limits.</summary>
public sealed class JobOptions
{
    /// <summary>Periodic checkpoint interval; null = only the final checkpoint at the end of input or on stop.</summary>
    public TimeSpan? CheckpointInterval { get; init; }
    public ICheckpointStore Store { get; init; } = new InMemoryCheckpointStore();
    /// <summary>Restore from the store's latest checkpoint when there is one.</summary>
    public bool Restore { get; init; } = true;
    public required IDeadLetterOutput DeadLetters { get; init; }
    public required EngineMetrics Metrics { get; init; }
    /// <summary>Scrubs the spec's secrets from failure messages (<see cref="Spec.PipelineSpec.Secrets"/>).</summary>
    public Spec.SecretRedactor Secrets { get; init; } = Spec.SecretRedactor.None;
    public EdgeLimits EdgeLimits { get; init; } = EdgeLimits.Default;
    /// <summary>Keep the final checkpoint (end of input or graceful stop) also as this named savepoint.</summary>
    public string? Savepoint { get; init; }
    /// <summary>Restore from this savepoint instead of the latest checkpoint (the regular checkpoints are then discarded).</summary>
    public string? RestoreFromSavepoint { get; init; }
    /// <summary>Where the runtime logs its lifecycle (start, restore, checkpoints, readiness, failures); none by default.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}

/// <summary>Where a run is: for liveness/readiness endpoints and <c>aietl status</c>.</summary>
public enum JobState { Starting, Running, Stopping, Finished, Failed }

/// <summary>The pipeline failed: the first error of any task.</summary>
public sealed class PipelineFailedException(string message, Exception inner) : Exception(message, inner);

/// <summary>The outcome of a run that ended normally (end of input or graceful stop).</summary>
public sealed record JobResult(long SourceRows, long SinkRows, long DeadLetters, long CheckpointsCompleted, long? RestoredFromCheckpoint, bool Stopped);

/// <summary>
/// Runs a <see cref="JobGraph"/>: one task per vertex instance, bounded edges between them, aligned
/// checkpoints, and a final checkpoint when the input ends or a graceful stop is requested.
/// </summary>
public sealed class JobRunner
{
    private readonly JobOptions _options;
    private readonly List<TaskBase> _tasks = [];
    private readonly List<SourceTask> _sources = [];
    private int _sourcesFinished;
    private int _sourcesAssigned;
    private long _firstCheckpoint;
    private int _state;
    private CheckpointCoordinator? _coordinator;
    private readonly ILogger _log;
    private readonly OffThreadLog _taskLog;
    private readonly Dictionary<string, StatefulSlot> _slots = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), string> _legacyUids = [];

    public JobRunner(JobGraph graph, JobOptions options)
    {
        Graph = graph;
        _options = options;
        _log = options.LoggerFactory?.CreateLogger("AiEtl.Engine.Runtime") ?? NullLogger.Instance;
        _taskLog = new OffThreadLog(_log);
    }

    public JobGraph Graph { get; }
    public EngineMetrics Metrics => _options.Metrics;
    public IDeadLetterOutput DeadLetters => _options.DeadLetters;
    internal CheckpointData? Restored { get; private set; }
    internal StateRestore? Restore { get; private set; }
    internal CheckpointCoordinator Coordinator => _coordinator!;

    /// <summary>Where the run is.</summary>
    public JobState State => (JobState)Volatile.Read(ref _state);
    /// <summary>Source readers created and positioned so far, of <see cref="SourceTasks"/>.</summary>
    public int SourcesAssigned => Volatile.Read(ref _sourcesAssigned);
    public int SourceTasks => _sources.Count;
    /// <summary>The last checkpoint completed in this run (0: none yet).</summary>
    public long LastCheckpointId => _coordinator?.LastCompletedId ?? 0;
    /// <summary>
    /// Ready: running, every source reader assigned, and the first checkpoint of this run taken (when the run
    /// checkpoints periodically; a run without periodic checkpoints is ready once its sources are assigned).
    /// </summary>
    public bool IsReady => State == JobState.Running && SourceTasks > 0 && SourcesAssigned == SourceTasks &&
                           (_options.CheckpointInterval == null || Interlocked.Read(ref _firstCheckpoint) > 0);

    public async Task<JobResult> RunAsync(CancellationToken stop, CancellationToken abort)
    {
        // Everything logged goes through the spec's redactor: the pipeline's name may be interpolated from a secret.
        var name = _options.Secrets.Redact(Graph.Name);
        using var pipelineScope = _log.BeginScope(new LogScope(new KeyValuePair<string, object?>("pipeline", name)));
        _taskLog.CaptureScope();
        try
        {
            var result = await RunCoreAsync(stop, abort).ConfigureAwait(false);
            Volatile.Write(ref _state, (int)JobState.Finished);
            _taskLog.Flush();
            EngineLog.Ended(_log, name, result.Stopped ? "stopped (drained)" : "finished", result.SourceRows, result.SinkRows, result.DeadLetters, result.CheckpointsCompleted);
            return result;
        }
        catch (Exception e)
        {
            Volatile.Write(ref _state, (int)JobState.Failed);
            _taskLog.Flush();
            if (e is not OperationCanceledException) EngineLog.Failed(_log, name, _options.Secrets.Redact(e.Message));
            throw;
        }
    }

    private async Task<JobResult> RunCoreAsync(CancellationToken stop, CancellationToken abort)
    {
        var fingerprint = Graph.Fingerprint();
        string? restoredFrom = null;
        if (_options.RestoreFromSavepoint is { } savepoint)
        {
            Restored = _options.Store.LoadSavepoint(savepoint)
                ?? throw new CheckpointIncompatibleException($"there is no savepoint '{savepoint}' in the checkpoint store");
            restoredFrom = $"savepoint {savepoint}";
        }
        else if (_options.Restore)
        {
            Restored = _options.Store.LoadLatest();
            restoredFrom = "the latest checkpoint";
        }
        using var failCts = CancellationTokenSource.CreateLinkedTokenSource(abort);
        var ct = failCts.Token;
        BuildTasks(stop);
        if (Restored != null)
        {
            try
            {
                Restore = StateRestore.Prepare(Restored, restoredFrom!, _slots, _legacyUids, fingerprint);
            }
            catch
            {
                foreach (var t in _tasks) await t.Chain.CloseAsync().ConfigureAwait(false);
                throw;
            }
            EngineLog.Restoring(_log, _options.Secrets.Redact(restoredFrom!), Restored.Id, Restored.Version);
            foreach (var note in Restore.Notes) EngineLog.RestoreNote(_log, _options.Secrets.Redact(note));
            // Checkpoints newer than a savepoint belong to another history: the run continues from the savepoint.
            if (_options.RestoreFromSavepoint != null) _options.Store.DiscardCheckpoints();
        }
        var identities = _slots.ToDictionary(kv => kv.Key, kv => kv.Value.Identity, StringComparer.Ordinal);
        _coordinator = new CheckpointCoordinator(_options.Store, fingerprint, identities, Metrics, _tasks.Count, Restored?.Id ?? 0,
            id => { foreach (var s in _sources) s.Post(StreamElement.Barrier(-1, id)); },
            OnCheckpointComplete, _taskLog, _options.Savepoint);
        EngineLog.Starting(_log, _options.Secrets.Redact(Graph.Name), _tasks.Count, fingerprint);
        Volatile.Write(ref _state, (int)JobState.Running);
        using var stopReg = stop.Register(() =>
        {
            Interlocked.CompareExchange(ref _state, (int)JobState.Stopping, (int)JobState.Running);
            EngineLog.StopRequested(_log);
        });

        Exception? failure = null;
        var running = _tasks.Select(t => Task.Run(async () =>
        {
            using var scope = _log.BeginScope(new LogScope(new KeyValuePair<string, object?>("operator", _options.Secrets.Redact(t.Vertex.Name)), new KeyValuePair<string, object?>("partition", t.Index)));
            EngineLog.TaskStarted(_log);
            try
            {
                await t.RunAsync(ct).ConfigureAwait(false);
                EngineLog.TaskFinished(_log);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                var error = _options.Secrets.Redact($"{t.Info}: {e.Message}");
                EngineLog.TaskFailed(_log, e.GetType().Name, error);
                Interlocked.CompareExchange(ref failure, new PipelineFailedException(error, e), null);
                await failCts.CancelAsync().ConfigureAwait(false);
            }
        }, CancellationToken.None)).ToList();

        using var timerCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var timer = _options.CheckpointInterval is { } interval ? Task.Run(() => PeriodicAsync(interval, timerCts.Token), CancellationToken.None) : Task.CompletedTask;
        await Task.WhenAll(running).ConfigureAwait(false);
        await timerCts.CancelAsync().ConfigureAwait(false);
        await timer.ConfigureAwait(false);
        await DeadLetters.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        if (failure != null) throw failure;
        abort.ThrowIfCancellationRequested();
        return new JobResult(Metrics.SourceRows, Metrics.SinkRows, DeadLetters.Count, Metrics.CheckpointsCompleted, Restored?.Id, stop.IsCancellationRequested);
    }

    internal void SourceAssigned()
    {
        if (Interlocked.Increment(ref _sourcesAssigned) == _sources.Count) LogIfReady();
    }

    private void LogIfReady()
    {
        // Called on a task thread: written off it (see OffThreadLog).
        if (IsReady)
        {
            var (sources, checkpoint) = (_sources.Count, LastCheckpointId);
            _taskLog.Post(LogLevel.Information, l => EngineLog.Ready(l, sources, checkpoint));
        }
    }

    private async Task PeriodicAsync(TimeSpan interval, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(interval, ct).ConfigureAwait(false);
                if (Volatile.Read(ref _sourcesFinished) < _sources.Count) _coordinator!.TryTrigger(final: false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    internal void SourceFinished()
    {
        if (Interlocked.Increment(ref _sourcesFinished) == _sources.Count) _coordinator!.RequestFinal();
    }

    private void OnCheckpointComplete(long id)
    {
        if (Interlocked.CompareExchange(ref _firstCheckpoint, id, 0) == 0 && _options.CheckpointInterval != null) LogIfReady();
        foreach (var t in _tasks) t.Post(StreamElement.Complete(id));
        if (id == _coordinator!.FinalCheckpointId)
        {
            foreach (var t in _tasks) t.Post(StreamElement.CloseTask());
        }
    }

    private void BuildTasks(CancellationToken stop)
    {
        var gates = new Dictionary<JobVertex, InputGate[]>();
        var offsets = new Dictionary<JobEdge, int>();
        foreach (var v in Graph.Vertices)
        {
            if (v.Source != null)
            {
                if (v.Inputs.Count > 0) throw new InvalidOperationException($"source vertex {v.Name} cannot have inputs");
                continue;
            }
            if (v.Inputs.Count == 0) throw new InvalidOperationException($"vertex {v.Name} has no input");
            var channels = 0;
            foreach (var e in v.Inputs)
            {
                offsets[e] = channels;
                channels += e.Partitioning == Partitioning.Forward ? 1 : e.From.Parallelism;
            }
            gates[v] = Enumerable.Range(0, v.Parallelism).Select(_ => new InputGate(channels, _options.EdgeLimits)).ToArray();
        }
        foreach (var v in Graph.Vertices)
        {
            for (var i = 0; i < v.Parallelism; i++)
            {
                var outs = v.Outputs.Select(e =>
                {
                    var targets = gates[e.To];
                    var off = offsets[e];
                    return e.Partitioning == Partitioning.Forward
                        ? new OutputEdge { Edge = e, Targets = [targets[i]], Channels = [off] }
                        : new OutputEdge { Edge = e, Targets = targets, Channels = Enumerable.Range(0, targets.Length).Select(_ => off + i).ToArray() };
                }).ToArray();
                var ops = v.CreateChain(i);
                var uids = Uids(v, ops, i == 0);
                var chain = new Chain(ops, uids, new Router(outs, i, Metrics), Metrics);
                if (v.Source != null)
                {
                    var s = new SourceTask(this, v, i, chain, stop);
                    _sources.Add(s);
                    _tasks.Add(s);
                }
                else
                {
                    _tasks.Add(new OperatorTask(this, v, i, chain, gates[v][i]));
                }
            }
        }
        if (_sources.Count == 0) throw new InvalidOperationException("the job has no source");
    }

    private int _statefulOrdinal;
    private readonly Dictionary<JobVertex, string[]> _vertexUids = [];

    /// <summary>
    /// Stable names for the state of a vertex's operators: <c>sink:NAME</c> for sinks, <c>KIND#N</c> for the N-th
    /// stateful operator of the pipeline (N counted in plan order), <c>VERTEX#SLOT</c> for stateless ones; the
    /// source position is under the vertex name. Registered once (instance 0) with their state identity.
    /// </summary>
    private string[] Uids(JobVertex v, IReadOnlyList<Operator> ops, bool register)
    {
        if (_vertexUids.TryGetValue(v, out var known)) return known;
        var uids = new string[ops.Count];
        if (v.Source != null)
        {
            _slots[v.Name] = new StatefulSlot(v.Name, new OperatorIdentity($"source {v.Source.Name} ({v.Source.GetType().Name})", v.Parallelism, v.Name), false, "source");
            _legacyUids[(v.Name, "source")] = v.Name;
        }
        for (var k = 0; k < ops.Count; k++)
        {
            var op = ops[k];
            uids[k] = op switch
            {
                SinkOperator sink => "sink:" + sink.SinkName,
                _ when op.StateIdentity != null => StateRestore.Ordinal(op.Name, ++_statefulOrdinal),
                _ => StateRestore.Ordinal(v.Name, k),
            };
            _legacyUids[(v.Name, k.ToString(System.Globalization.CultureInfo.InvariantCulture))] = uids[k];
            if (register && op.StateIdentity is { } identity)
                _slots[uids[k]] = new StatefulSlot(uids[k], new OperatorIdentity(identity, v.Parallelism, v.Name), op.CanRescale, op is SinkOperator ? "sink" : "operator");
        }
        _vertexUids[v] = uids;
        return uids;
    }
}
