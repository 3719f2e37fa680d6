using AiEtl.Engine.Connectors.Memory;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Tests.Runtime;
using AiEtl.Engine.Tests.Support;
using static AiEtl.Engine.Tests.Windows.WindowData;

namespace AiEtl.Engine.Tests.Windows;

/// <summary>The window operator inside a real job: in-memory source with event time → hash edge on the keys → aggregate → two-phase sink.</summary>
public sealed class WindowJobTests
{
    private const long Second = 1_000_000;
    private static readonly int[] Keys = [K, S];

    private static JobGraph Job(List<Batch> input, WindowSpec spec, TwoPhaseListSink sink)
    {
        var proto = new WindowAggregateOperator(InputSchema, Keys, spec, AllAggregates);
        var g = new JobGraph { Name = "windows" };
        var src = g.Add(new JobVertex
        {
            Name = "source", Parallelism = 2, Source = new InMemorySource("mem", InputSchema, input),
            EventTime = new EventTimeSettings("ts", TimeSpan.FromSeconds(5)), OutputSchema = InputSchema, CreateChain = _ => [],
        });
        var agg = g.Add(new JobVertex
        {
            Name = "aggregate", Parallelism = 2, OutputSchema = proto.OutputSchema, IsSink = true,
            OperatorDescriptions = [proto.Describe(), "sink out"],
            CreateChain = _ => [new WindowAggregateOperator(InputSchema, Keys, spec, AllAggregates), new SinkOperator(sink, proto.OutputSchema)],
        });
        JobGraph.Connect(src, agg, Partitioning.Hash, Keys);
        return g;
    }

    [Theory]
    [InlineData(WindowKind.Tumble)]
    [InlineData(WindowKind.Hop)]
    [InlineData(WindowKind.Session)]
    public async Task Through_the_job_runner_results_equal_the_reference_also_across_a_crash_and_restore(WindowKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        // Out-of-orderness (5 s) well above the jitter (0.5 s): with two readers the watermark never passes a row.
        var shape = kind == WindowKind.Session
            ? new Shape { Rows = 30_000, Keys = 20, StepMicros = 300_000, JitterMicros = 500_000, FarBackShare = 0, NullTimeShare = 0, MaxBatch = 400 }
            : new Shape { Rows = 30_000, JitterMicros = 500_000, FarBackShare = 0, NullTimeShare = 0, MaxBatch = 400 };
        var input = Generate(20 + (int)kind, shape);
        var spec = kind switch
        {
            WindowKind.Tumble => new WindowSpec(kind, Ts, 10 * Second, 0, 0, 0),
            WindowKind.Hop => new WindowSpec(kind, Ts, 10 * Second, 4 * Second, 0, 0),
            _ => new WindowSpec(kind, Ts, 0, 0, 4 * Second, 0),
        };
        var noWatermarks = Enumerable.Repeat(long.MinValue, input.Count).ToArray();
        var expected = Reference.Run(input, noWatermarks, Keys, spec, AllAggregates).Steps.SelectMany(s => s).Order(StringComparer.Ordinal).ToList();

        var store = new InMemoryCheckpointStore();
        var sink = new TwoPhaseListSink("out") { FailAfterBatches = 120, DelayPerBatch = TimeSpan.FromMilliseconds(2) };
        JobOptions Options(IDeadLetterOutput letters) => new()
        {
            DeadLetters = letters, Metrics = new EngineMetrics("windows"), Store = store, CheckpointInterval = TimeSpan.FromMilliseconds(10),
            // Small edges: the sources are held back by the slow sink, so checkpoints complete while windows are open.
            EdgeLimits = new EdgeLimits(MaxRows: 1000, MaxBytes: 1 << 20),
        };
        var letters = new CollectingDeadLetters();
        await Assert.ThrowsAsync<PipelineFailedException>(() => new JobRunner(Job(input, spec, sink), Options(letters)).RunAsync(CancellationToken.None, ct));
        Assert.NotNull(store.LoadLatest());
        var committedBefore = sink.Committed.Count;

        sink.FailAfterBatches = -1;
        var result = await new JobRunner(Job(input, spec, sink), Options(letters)).RunAsync(CancellationToken.None, ct);
        Assert.NotNull(result.RestoredFromCheckpoint);
        Assert.Empty(letters.Letters);
        Assert.InRange(committedBefore, 1, expected.Count - 1);
        Assert.True(sink.Batches > 120, "results are emitted as windows close, not only at the end");
        var committed = sink.Committed.Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected.Count, committed.Count);
        Assert.Equal(expected, committed);
        DisposeAll(input);
    }
}
