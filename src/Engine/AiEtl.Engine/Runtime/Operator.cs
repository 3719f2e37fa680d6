using System.Runtime.CompilerServices;
using Apache.Arrow;

namespace AiEtl.Engine.Runtime;

/// <summary>Where an operator sends its output. Takes ownership of every batch emitted.</summary>
public interface IOutput
{
    ValueTask EmitAsync(Batch batch, CancellationToken ct);
}

/// <summary>What an operator instance gets when it opens.</summary>
public sealed class OperatorContext
{
    public required TaskInfo Task { get; init; }
    public required EngineMetrics Metrics { get; init; }
    public required IDeadLetterOutput DeadLetters { get; init; }
}

/// <summary>
/// A dataflow operator. The lifecycle is open → batches (and watermarks) → barrier snapshots →
/// checkpoint-complete notifications → end of input → close; every hook but <see cref="ProcessAsync"/>
/// defaults to a no-op. Instances are single-threaded: the runtime never calls one concurrently.
/// </summary>
public abstract class Operator
{
    /// <summary>Short name for plans and metrics.</summary>
    public abstract string Name { get; }

    /// <summary>The schema of the batches this operator emits.</summary>
    public abstract Schema OutputSchema { get; }

    /// <summary>True when the operator keeps state across batches (it is then never fused before a hash edge).</summary>
    public virtual bool IsStateful => false;

    /// <summary>One line describing the operator for <c>explain</c>.</summary>
    public virtual string Describe() => Name;

    /// <summary>
    /// The configuration its checkpointed state depends on (e.g. key columns and their types, window type and
    /// size, aggregates) — null for operators without state. A checkpoint restores into an operator only when
    /// this text is unchanged; anything not named here (output columns, expressions downstream) may change.
    /// </summary>
    public virtual string? StateIdentity => null;

    /// <summary>
    /// True when the state is keyed by the columns of the hash edge in front of the operator, so that
    /// <see cref="OpenRescaledAsync"/> can restore it into a different parallelism.
    /// </summary>
    public virtual bool CanRescale => false;

    /// <summary>
    /// Opens the operator from the snapshots of every instance of a run with another parallelism, keeping only the
    /// keys this instance owns now (<see cref="KeyHash.Partition"/> of the key hash equals its index).
    /// </summary>
    public virtual ValueTask OpenRescaledAsync(OperatorContext context, IReadOnlyList<byte[]> states, int index, int parallelism, CancellationToken ct) =>
        throw new NotSupportedException($"{Name} cannot redistribute its state to another parallelism");

    /// <summary>Opens the operator; <paramref name="restoredState"/> is its snapshot from the last complete checkpoint.</summary>
    public virtual ValueTask OpenAsync(OperatorContext context, byte[]? restoredState, CancellationToken ct) => default;

    /// <summary>Processes one batch; takes ownership of it (dispose it or pass it on).</summary>
    public abstract ValueTask ProcessAsync(Batch batch, IOutput output, CancellationToken ct);

    /// <summary>Event time advanced to <paramref name="watermarkMicros"/> on every input.</summary>
    public virtual ValueTask OnWatermarkAsync(long watermarkMicros, IOutput output, CancellationToken ct) => default;

    /// <summary>A checkpoint barrier passed: return the state to store (null when stateless).</summary>
    public virtual ValueTask<byte[]?> SnapshotAsync(long checkpointId, CancellationToken ct) => ValueTask.FromResult<byte[]?>(null);

    /// <summary>The checkpoint completed everywhere: side effects may be committed.</summary>
    public virtual ValueTask OnCheckpointCompleteAsync(long checkpointId, CancellationToken ct) => default;

    /// <summary>All inputs ended: emit what is still held (e.g. open windows of bounded input).</summary>
    public virtual ValueTask OnEndOfInputAsync(IOutput output, CancellationToken ct) => default;

    public virtual ValueTask CloseAsync() => default;
}

/// <summary>The terminal operator of a sink vertex: writes through an <see cref="ISinkWriter"/>.</summary>
public sealed class SinkOperator(ISink sink, Schema input) : Operator
{
    private ISinkWriter? _writer;
    private OperatorContext? _context;
    private Schema? _accepted;

    public override string Name => "sink:" + sink.Name;
    public override Schema OutputSchema => input;
    public override string Describe() => $"sink {sink.Name} ({sink.GetType().Name})";
    public override string? StateIdentity => $"sink {sink.Name} ({sink.GetType().Name})";
    internal string SinkName => sink.Name;

    public override async ValueTask OpenAsync(OperatorContext context, byte[]? restoredState, CancellationToken ct)
    {
        _context = context;
        _writer = sink.CreateWriter(input, new ConnectorContext { Task = context.Task, DeadLetters = context.DeadLetters, Metrics = context.Metrics });
        await _writer.OpenAsync(restoredState, ct).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask ProcessAsync(Batch batch, IOutput output, CancellationToken ct)
    {
        try
        {
            if (!ReferenceEquals(batch.Schema, _accepted ?? input)) AcceptSchema(batch.Schema);
            await _writer!.WriteAsync(batch, ct).ConfigureAwait(false);
            Interlocked.Add(ref _context!.Metrics.SinkRows, batch.Length);
        }
        finally
        {
            batch.Dispose();
        }
    }

    private void AcceptSchema(Schema schema)
    {
        if (!sink.AcceptsSchemaChanges && !SameColumns(schema, input))
            throw new InvalidOperationException(
                $"sink {sink.Name} ({sink.GetType().Name}) cannot take a batch whose schema changed " +
                $"(expected {string.Join(", ", input.FieldsList.Select(f => $"{f.Name} {f.DataType.Name}"))}; " +
                $"got {string.Join(", ", schema.FieldsList.Select(f => $"{f.Name} {f.DataType.Name}"))})");
        _accepted = schema;
    }

    private static bool SameColumns(Schema a, Schema b)
    {
        if (a.FieldsList.Count != b.FieldsList.Count) return false;
        for (var i = 0; i < a.FieldsList.Count; i++)
        {
            var (x, y) = (a.FieldsList[i], b.FieldsList[i]);
            if (x.Name != y.Name || x.DataType.TypeId != y.DataType.TypeId) return false;
        }
        return true;
    }

    public override async ValueTask<byte[]?> SnapshotAsync(long checkpointId, CancellationToken ct) =>
        await _writer!.PreCommitAsync(checkpointId, ct).ConfigureAwait(false);

    /// <summary>The writer's background pre-commit (<see cref="IBackgroundPreCommit"/>), or null when it has none.</summary>
    internal IBackgroundPreCommit? BackgroundPreCommit => _writer as IBackgroundPreCommit;

    public override ValueTask OnCheckpointCompleteAsync(long checkpointId, CancellationToken ct) =>
        _writer!.CommitAsync(checkpointId, ct);

    public override async ValueTask CloseAsync()
    {
        if (_writer != null) await _writer.DisposeAsync().ConfigureAwait(false);
    }
}
