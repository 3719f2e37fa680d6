using System.Collections.Concurrent;
using AiEtl.Engine.Connectors.Memory;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>
/// Sinks whose pre-commit finishes in the background (<see cref="IBackgroundPreCommit"/>): the pipeline keeps writing
/// after the barrier, the checkpoint is acknowledged (and completes) only when the pre-commit is done, and a failed
/// pre-commit fails the job instead of hanging it.
/// </summary>
public sealed class BackgroundPreCommitTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    private static (JobGraph Graph, List<Batch> Input) Job(BackgroundSink sink, int batches)
    {
        var schema = TestData.OrdersSchema;
        var input = TestData.Orders(batches * 100, 100);
        var g = new JobGraph { Name = "bg" };
        var src = g.Add(new JobVertex { Name = "source", Parallelism = 1, Source = new InMemorySource("mem", schema, input), OutputSchema = schema, CreateChain = _ => [] });
        var snk = g.Add(new JobVertex { Name = "sink", Parallelism = 1, OutputSchema = schema, IsSink = true, CreateChain = _ => [new SinkOperator(sink, schema)] });
        JobGraph.Connect(src, snk, Partitioning.Forward);
        return (g, input);
    }

    private static JobOptions Options(EngineMetrics metrics, TimeSpan? interval, ICheckpointStore? store = null) => new()
    {
        DeadLetters = new ListDeadLetters(),
        Metrics = metrics,
        Store = store ?? new InMemoryCheckpointStore(),
        CheckpointInterval = interval,
        // Two batches in flight: the source cannot run far ahead of the (slightly slow) sink, so periodic
        // checkpoints fall inside the run instead of after the source has ended.
        EdgeLimits = new EdgeLimits(MaxRows: 200, MaxBytes: 1 << 20),
    };

    [Fact]
    public async Task Writes_go_on_while_a_pre_commit_is_pending_and_the_checkpoint_completes_only_after_it()
    {
        // The first pre-commit completes only once three more batches have been written after its barrier: a runtime
        // that waited for the pre-commit before writing again would never release it (the sink gives up after 30 s
        // and the test fails on that, not on a timing).
        var sink = new BackgroundSink { ReleaseFirstAfterWrites = 3 };
        var (g, input) = Job(sink, batches: 400);
        using var metrics = new EngineMetrics("bg");
        var result = await new JobRunner(g, Options(metrics, TimeSpan.FromMilliseconds(20))).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken).WaitAsync(Limit, TestContext.Current.CancellationToken);

        Assert.False(sink.FirstReleasedByTimeout, "the first pre-commit was not released by writes after its barrier");
        Assert.True(sink.WritesWhilePending >= 3, $"{sink.WritesWhilePending} batches written while a pre-commit was pending");
        Assert.Equal(40_000, result.SinkRows);
        Assert.True(result.CheckpointsCompleted >= 2, $"{result.CheckpointsCompleted} checkpoints");
        // Every completion came after its pre-commit had finished, and every pre-committed checkpoint completed.
        Assert.Empty(sink.Violations);
        Assert.Equal(sink.PreCommitted.Order(), sink.Completed.Order());
        // The rows of each pre-commit add up to everything written, each row once.
        Assert.Equal(40_000, sink.PreCommittedRows.Values.Sum());
        foreach (var b in input) b.Dispose();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_failed_background_pre_commit_fails_the_job(bool periodic)
    {
        // Without periodic checkpoints the failing one is the final checkpoint, taken when every source has ended
        // and the tasks only wait for it: the failure must still reach them.
        var sink = new BackgroundSink { FailAt = 1 };
        var (g, input) = Job(sink, batches: periodic ? 400 : 20);
        using var metrics = new EngineMetrics("bg");
        var run = new JobRunner(g, Options(metrics, periodic ? TimeSpan.FromMilliseconds(20) : null)).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        var e = await Assert.ThrowsAsync<PipelineFailedException>(() => run.WaitAsync(Limit, TestContext.Current.CancellationToken));
        Assert.Contains("injected pre-commit failure", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, Interlocked.Read(ref metrics.CheckpointsCompleted));
        Assert.Empty(sink.Completed);
        foreach (var b in input) b.Dispose();
    }

    [Fact]
    public async Task A_checkpoint_store_failure_after_a_background_pre_commit_fails_the_job()
    {
        // The acknowledgement that completes the checkpoint runs off the task, after the pre-commit: a store that
        // cannot write must still fail the run, not leave it waiting for a checkpoint that never completes.
        var sink = new BackgroundSink();
        var (g, input) = Job(sink, batches: 20);
        using var metrics = new EngineMetrics("bg");
        var options = Options(metrics, null, new FailingStore());
        var run = new JobRunner(g, options).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        var e = await Assert.ThrowsAsync<PipelineFailedException>(() => run.WaitAsync(Limit, TestContext.Current.CancellationToken));
        Assert.Contains("injected store failure", e.Message, StringComparison.Ordinal);
        Assert.Empty(sink.Completed);
        foreach (var b in input) b.Dispose();
    }

    private sealed class FailingStore : ICheckpointStore
    {
        public void Write(CheckpointData checkpoint) => throw new IOException("injected store failure");
        public CheckpointData? LoadLatest() => null;
        public void WriteSavepoint(string name, CheckpointData checkpoint) => throw new IOException("injected store failure");
        public CheckpointData? LoadSavepoint(string name) => null;
        public void DiscardCheckpoints() { }
    }

    /// <summary>Counts rows; its pre-commits complete later, on a timer or after more writes, or fail.</summary>
    private sealed class BackgroundSink : ISink
    {
        public int ReleaseFirstAfterWrites { get; init; }
        public long FailAt { get; init; } = -1;
        public int WritesWhilePending;
        public volatile bool FirstReleasedByTimeout;
        public ConcurrentQueue<long> PreCommitted { get; } = new();
        public ConcurrentQueue<long> Completed { get; } = new();
        public ConcurrentQueue<string> Violations { get; } = new();
        public ConcurrentDictionary<long, long> PreCommittedRows { get; } = new();

        public string Name => "bg";
        public int MaxParallelism => 1;
        public ISinkWriter CreateWriter(Schema input, ConnectorContext context) => new Writer(this);

        private sealed class Writer(BackgroundSink sink) : ISinkWriter, IBackgroundPreCommit
        {
            private readonly ConcurrentDictionary<long, Task> _pending = new();
            private TaskCompletionSource? _first;
            private int _writesSinceFirst;
            private long _rows;

            public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => default;

            public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
            {
                // A little slower than the source, so that periodic checkpoints fall inside the run.
                await Task.Delay(1, ct);
                _rows += batch.Length;
                if (_pending.Values.Any(t => !t.IsCompleted)) Interlocked.Increment(ref sink.WritesWhilePending);
                if (_first != null && ++_writesSinceFirst == sink.ReleaseFirstAfterWrites) _first.TrySetResult();
            }

            public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) =>
                throw new InvalidOperationException("the runtime must use BeginPreCommitAsync for this writer");

            public ValueTask<Task<byte[]?>> BeginPreCommitAsync(long checkpointId, CancellationToken ct)
            {
                var rows = _rows;
                _rows = 0;
                Task wait;
                if (checkpointId == sink.FailAt) wait = Task.FromException(new IOException("injected pre-commit failure"));
                else if (checkpointId == 1 && sink.ReleaseFirstAfterWrites > 0)
                {
                    _first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    wait = ReleasedOrTimeoutAsync(_first.Task);
                }
                else wait = Task.Delay(30, ct);
                var done = FinishAsync(wait, checkpointId, rows);
                _pending[checkpointId] = done;
                return ValueTask.FromResult(done);
            }

            private async Task ReleasedOrTimeoutAsync(Task released)
            {
                if (await Task.WhenAny(released, Task.Delay(TimeSpan.FromSeconds(30))).ConfigureAwait(false) != released) sink.FirstReleasedByTimeout = true;
            }

            private async Task<byte[]?> FinishAsync(Task wait, long checkpointId, long rows)
            {
                await wait.ConfigureAwait(false);
                sink.PreCommittedRows[checkpointId] = rows;
                sink.PreCommitted.Enqueue(checkpointId);
                return BitConverter.GetBytes(checkpointId);
            }

            public ValueTask CommitAsync(long checkpointId, CancellationToken ct)
            {
                if (!_pending.TryGetValue(checkpointId, out var t) || !t.IsCompletedSuccessfully)
                    sink.Violations.Enqueue($"checkpoint {checkpointId} completed before its pre-commit finished");
                sink.Completed.Enqueue(checkpointId);
                return default;
            }

            public ValueTask DisposeAsync() => default;
        }
    }
}
