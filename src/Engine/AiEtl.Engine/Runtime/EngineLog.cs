using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AiEtl.Engine.Runtime;

/// <summary>
/// The runtime's log lines (source-generated, event ids 1000–1099). Lifecycle events only: nothing is logged per
/// row or per batch. Task lines carry the scope <c>pipeline</c> / <c>operator</c> (the vertex) / <c>partition</c>.
/// </summary>
internal static partial class EngineLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "pipeline {Pipeline} starting: {Tasks} tasks, plan fingerprint {Fingerprint}")]
    public static partial void Starting(ILogger logger, string pipeline, int tasks, string fingerprint);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "restoring from {What} (checkpoint {CheckpointId}, format version {Version})")]
    public static partial void Restoring(ILogger logger, string what, long checkpointId, int version);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "restore: {Note}")]
    public static partial void RestoreNote(ILogger logger, string note);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Debug, Message = "task started")]
    public static partial void TaskStarted(ILogger logger);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Debug, Message = "task finished")]
    public static partial void TaskFinished(ILogger logger);

    // No exception object is attached: its message and stack could quote a secret; the error text is redacted by the caller.
    [LoggerMessage(EventId = 1005, Level = LogLevel.Error, Message = "task failed: {ExceptionType}: {Error}")]
    public static partial void TaskFailed(ILogger logger, string exceptionType, string error);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Debug, Message = "checkpoint {CheckpointId} completed in {DurationMs:0.0} ms ({Bytes} bytes of state)")]
    public static partial void CheckpointCompleted(ILogger logger, long checkpointId, double durationMs, long bytes);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Information, Message = "final checkpoint {CheckpointId} completed in {DurationMs:0.0} ms ({Bytes} bytes of state)")]
    public static partial void FinalCheckpointCompleted(ILogger logger, long checkpointId, double durationMs, long bytes);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Information, Message = "savepoint {Savepoint} written (checkpoint {CheckpointId})")]
    public static partial void SavepointWritten(ILogger logger, string savepoint, long checkpointId);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Information, Message = "stop requested: sources stop, in-flight batches drain, a final checkpoint commits")]
    public static partial void StopRequested(ILogger logger);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "ready: {Sources} source readers assigned, last checkpoint {CheckpointId}")]
    public static partial void Ready(ILogger logger, int sources, long checkpointId);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Information, Message = "pipeline {Pipeline} {Outcome}: {RowsIn} rows in, {RowsOut} rows out, {DeadLetters} dead letters, {Checkpoints} checkpoints")]
    public static partial void Ended(ILogger logger, string pipeline, string outcome, long rowsIn, long rowsOut, long deadLetters, long checkpoints);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Error, Message = "pipeline {Pipeline} failed: {Error}")]
    public static partial void Failed(ILogger logger, string pipeline, string error);
}

/// <summary>A logging scope whose items the JSON console formatter writes as properties (pipeline, operator, partition).</summary>
internal sealed class LogScope(params KeyValuePair<string, object?>[] items) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public KeyValuePair<string, object?> this[int index] => items[index];
    public int Count => items.Length;
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)items).GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => items.GetEnumerator();
    private string? _text;

    // The text formatter writes a scope by its ToString for every line logged inside it: built once.
    public override string ToString() => _text ??= string.Join(' ', items.Select(kv => $"{kv.Key}={kv.Value}"));
}

/// <summary>
/// Lifecycle lines raised on task threads (ready, checkpoint completed, savepoint written), written by a
/// thread-pool thread instead: a task thread never formats a line nor takes the logging provider's locks (the
/// console logger's queue lock is also taken by its writer thread, and a writer preempted while holding it would
/// stall the task). Lines keep their order; they carry the pipeline scope of the run (captured at its start);
/// <see cref="Flush"/> writes what is pending, before the run logs its end.
/// </summary>
internal sealed class OffThreadLog(ILogger log)
{
    private readonly ConcurrentQueue<Action<ILogger>> _lines = new();
    private readonly Lock _writing = new();
    private ExecutionContext? _context;
    private int _scheduled;

    /// <summary>Takes the caller's logging scopes for the lines written later.</summary>
    public void CaptureScope() => _context = ExecutionContext.Capture();

    public void Post(LogLevel level, Action<ILogger> line)
    {
        if (!log.IsEnabled(level)) return;
        _lines.Enqueue(line);
        if (Interlocked.Exchange(ref _scheduled, 1) == 0)
            ThreadPool.UnsafeQueueUserWorkItem(static self => self.Drain(), this, preferLocal: false);
    }

    private void Drain()
    {
        Volatile.Write(ref _scheduled, 0);
        Flush();
    }

    /// <summary>Writes every pending line (in order; also the ones a drain in progress has not reached).</summary>
    public void Flush()
    {
        lock (_writing)
        {
            while (_lines.TryDequeue(out var line))
            {
                if (_context is { } context) ExecutionContext.Run(context, static s => { var (l, write) = ((ILogger, Action<ILogger>))s!; write(l); }, (log, line));
                else line(log);
            }
        }
    }
}
