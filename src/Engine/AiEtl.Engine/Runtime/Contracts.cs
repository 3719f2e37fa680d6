using Apache.Arrow;

namespace AiEtl.Engine.Runtime;

/// <summary>Where an operator or connector instance runs: its name, index and the parallelism of its vertex.</summary>
public sealed class TaskInfo
{
    public required string Pipeline { get; init; }
    /// <summary>Name of the vertex (source name, operator chain, sink name).</summary>
    public required string Vertex { get; init; }
    public required int Index { get; init; }
    public required int Parallelism { get; init; }
    public override string ToString() => $"{Vertex}[{Index}/{Parallelism}]";
}

/// <summary>What a source reader or sink writer gets from the runtime.</summary>
public sealed class ConnectorContext
{
    public required TaskInfo Task { get; init; }
    /// <summary>Where records that fail to decode or convert go (never dropped).</summary>
    public required IDeadLetterOutput DeadLetters { get; init; }
    public required EngineMetrics Metrics { get; init; }
}

/// <summary>
/// A source: describes its output schema and how many readers can run in parallel, and creates them.
/// Connectors are registered explicitly (no reflection scanning).
/// </summary>
public interface ISource
{
    string Name { get; }
    Schema Schema { get; }
    /// <summary>How many readers can share the work (splits); the runtime runs at most this many.</summary>
    int MaxParallelism { get; }
    /// <summary>True when the input ends by itself (files, a generator with a row limit).</summary>
    bool IsBounded { get; }
    /// <summary>Creates the reader for <c>context.Task.Index</c> of <c>context.Task.Parallelism</c>.</summary>
    ISourceReader CreateReader(ConnectorContext context);

    /// <summary>
    /// What one split is called (e.g. "partition") when this source's readers implement <see cref="ISplitEventTime"/>
    /// and the watermark is therefore derived per split; null when it follows the largest event time a reader
    /// returned. Only describes the plan (<c>aietl explain</c>); the runtime checks the reader itself.
    /// </summary>
    string? EventTimeSplit => null;
}

/// <summary>Pulls batches from one share of a source.</summary>
public interface ISourceReader : IAsyncDisposable
{
    /// <summary>
    /// Restores the position from the last complete checkpoint (opaque bytes written by
    /// <see cref="SnapshotPosition"/>); called once, before the first read, only when restoring.
    /// </summary>
    void RestorePosition(ReadOnlySpan<byte> position);

    /// <summary>
    /// The next batch, an empty batch when nothing arrived within the reader's poll interval (so that
    /// checkpoints can pass), or null at the end of the input. The caller owns the returned batch.
    /// </summary>
    ValueTask<Batch?> ReadNextBatchAsync(CancellationToken ct);

    /// <summary>The position just after the last batch returned (stored in checkpoints).</summary>
    byte[] SnapshotPosition();

    /// <summary>The checkpoint that holds a position has completed (e.g. commit offsets upstream).</summary>
    ValueTask OnCheckpointCompleteAsync(long checkpointId, CancellationToken ct) => default;
}

/// <summary>
/// A reader whose input is several independently ordered splits (Kafka partitions). Its watermark is then
/// derived per split, as Flink does per partition: the least, over the splits that still have data pending,
/// of each split's largest event time — not the largest event time of the reader's batches. Otherwise a split
/// that happens to be fetched later than its siblings by more than the allowed disorder would have its
/// on-time rows declared late, and which rows those are would depend on fetch timing (so a restarted job
/// would not reproduce an uninterrupted run's windows).
/// </summary>
public interface ISplitEventTime
{
    /// <summary>Called once, before the first read, with the event-time column's index in the batches.</summary>
    void TrackEventTime(int column);

    /// <summary>
    /// The least per-split maximum event time (µs) among splits with data pending; the largest seen when
    /// every split has caught up; <see cref="long.MinValue"/> while a pending split has shown no row yet.
    /// </summary>
    long EventTimeFloor { get; }
}

/// <summary>A sink: creates one writer per parallel instance.</summary>
public interface ISink
{
    string Name { get; }
    /// <summary>Upper bound on parallel writers (1 for a single output file).</summary>
    int MaxParallelism { get; }
    /// <summary>Checks the input schema before the pipeline starts; returns problems (empty when fine).</summary>
    IReadOnlyList<string> Validate(Schema input) => [];
    /// <summary>
    /// True when writers take batches whose schema differs from the one given to <see cref="CreateWriter"/>
    /// (a change stream whose tables gain columns); otherwise such a batch fails the pipeline.
    /// </summary>
    bool AcceptsSchemaChanges => false;
    ISinkWriter CreateWriter(Schema input, ConnectorContext context);
}

/// <summary>
/// Writes batches. Exactly-once sinks make writes visible only in <see cref="CommitAsync"/> (two-phase):
/// <see cref="PreCommitAsync"/> at a checkpoint barrier makes them durable and returns the state needed to
/// finish or discard them after a crash; <see cref="OpenAsync"/> receives that state from the last complete
/// checkpoint and must commit what it lists (idempotently) and discard anything newer.
/// </summary>
public interface ISinkWriter : IAsyncDisposable
{
    ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct);

    /// <summary>Writes a batch. The caller keeps ownership and disposes it after the call.</summary>
    ValueTask WriteAsync(Batch batch, CancellationToken ct);

    /// <summary>Flushes and makes durable everything written since the last barrier.</summary>
    ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct);

    /// <summary>The checkpoint completed: make its pre-committed writes visible.</summary>
    ValueTask CommitAsync(long checkpointId, CancellationToken ct);
}

/// <summary>
/// A sink writer whose pre-commit can finish in the background, so that the pipeline keeps writing while the rows
/// before a barrier are made durable. The runtime then calls <see cref="BeginPreCommitAsync"/> instead of
/// <see cref="ISinkWriter.PreCommitAsync"/> and acknowledges the checkpoint only when the returned task completes
/// (so the checkpoint, and the source positions it holds, still never count rows that are not durable).
/// </summary>
public interface IBackgroundPreCommit
{
    /// <summary>
    /// Called at the barrier instead of <see cref="ISinkWriter.PreCommitAsync"/>: starts making everything written
    /// before it durable and returns a task that completes with the checkpoint state once it is (or fails). Writes
    /// after the barrier may follow at once; they belong to the next checkpoint. Checkpoints never overlap: the
    /// next barrier comes only after this checkpoint completed.
    /// </summary>
    ValueTask<Task<byte[]?>> BeginPreCommitAsync(long checkpointId, CancellationToken ct);
}

/// <summary>One record that could not be decoded or converted.</summary>
public sealed class DeadLetter
{
    /// <summary>Name of the source (or operator) that produced it.</summary>
    public required string Source { get; init; }
    /// <summary>Where the record was: e.g. file/line/byte_offset, topic/partition/offset, or lsn.</summary>
    public required IReadOnlyList<KeyValuePair<string, object>> Position { get; init; }
    /// <summary>decode | convert | schema | overflow | cast | …</summary>
    public required string ErrorClass { get; init; }
    public required string Error { get; init; }
    /// <summary>The raw bytes exactly as read.</summary>
    public required ReadOnlyMemory<byte> Raw { get; init; }
}

/// <summary>Receives dead letters; implementations must not lose them (flushed at checkpoints).</summary>
public interface IDeadLetterOutput : IAsyncDisposable
{
    void Write(DeadLetter letter);
    /// <summary>Makes everything written so far durable (called at every checkpoint and at the end).</summary>
    ValueTask FlushAsync(CancellationToken ct);
    long Count { get; }
}
