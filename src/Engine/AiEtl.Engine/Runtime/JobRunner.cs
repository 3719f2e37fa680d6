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
}

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
    private CheckpointCoordinator? _coordinator;

    public JobRunner(JobGraph graph, JobOptions options)
    {
        Graph = graph;
        _options = options;
    }

    public JobGraph Graph { get; }
    public EngineMetrics Metrics => _options.Metrics;
    public IDeadLetterOutput DeadLetters => _options.DeadLetters;
    internal CheckpointData? Restored { get; private set; }
    internal CheckpointCoordinator Coordinator => _coordinator!;

    public async Task<JobResult> RunAsync(CancellationToken stop, CancellationToken abort)
    {
        var fingerprint = Graph.Fingerprint();
        if (_options.Restore)
        {
            Restored = _options.Store.LoadLatest();
            if (Restored != null && Restored.PlanFingerprint != fingerprint)
                throw new InvalidOperationException(
                    $"the latest checkpoint ({Restored.Id}) was taken by a different plan (fingerprint {Restored.PlanFingerprint}, this plan {fingerprint}); " +
                    "start fresh (aietl run --fresh) or restore the previous pipeline");
        }
        using var failCts = CancellationTokenSource.CreateLinkedTokenSource(abort);
        var ct = failCts.Token;
        BuildTasks(stop);
        _coordinator = new CheckpointCoordinator(_options.Store, fingerprint, Metrics, _tasks.Count, Restored?.Id ?? 0,
            id => { foreach (var s in _sources) s.Post(StreamElement.Barrier(-1, id)); },
            OnCheckpointComplete);

        Exception? failure = null;
        var running = _tasks.Select(t => Task.Run(async () =>
        {
            try
            {
                await t.RunAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, new PipelineFailedException(_options.Secrets.Redact($"{t.Info}: {e.Message}"), e), null);
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
                var chain = new Chain(v.CreateChain(i), new Router(outs, i, Metrics), Metrics);
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
}
