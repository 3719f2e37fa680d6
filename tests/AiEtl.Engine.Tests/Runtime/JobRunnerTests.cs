using AiEtl.Engine.Connectors.Memory;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Runtime;

public sealed class JobRunnerTests
{
    private static (JobGraph graph, TwoPhaseListSink sink) FilterProjectJob(List<Batch> input, int parallelism, string filter, string[] select)
    {
        var schema = TestData.OrdersSchema;
        var binder = new Binder(schema);
        var pred = binder.Bind(ExprParser.Parse(filter));
        var projections = select.Select(s => ExprParser.ParseNamed(s)).Select(n => (n.Alias ?? ((ColumnRef)n.Expr).Name, binder.Bind(n.Expr))).ToList();
        var op = new FilterProjectOperator(schema, pred, projections);
        var sink = new TwoPhaseListSink("out");
        var g = new JobGraph { Name = "test" };
        var src = g.Add(new JobVertex
        {
            Name = "source", Parallelism = parallelism, Source = new InMemorySource("mem", schema, input), OutputSchema = op.OutputSchema,
            CreateChain = _ => [new FilterProjectOperator(schema, pred, projections)],
        });
        var snk = g.Add(new JobVertex
        {
            Name = "sink", Parallelism = parallelism, OutputSchema = op.OutputSchema, IsSink = true,
            CreateChain = _ => [new SinkOperator(sink, op.OutputSchema)],
        });
        JobGraph.Connect(src, snk, Partitioning.Forward);
        return (g, sink);
    }

    private static JobOptions Options(ICheckpointStore? store = null, TimeSpan? interval = null, EdgeLimits? limits = null) => new()
    {
        DeadLetters = new ListDeadLetters(),
        Metrics = new EngineMetrics("test"),
        Store = store ?? new InMemoryCheckpointStore(),
        CheckpointInterval = interval,
        EdgeLimits = limits ?? EdgeLimits.Default,
    };

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Filter_and_project_give_the_same_rows_as_linq(int parallelism)
    {
        var input = TestData.Orders(20_000, 1000);
        var (g, sink) = FilterProjectJob(input, parallelism, "status < 5 AND amount > 10", ["id", "amount * qty AS total", "upper(name) AS name"]);
        var result = await new JobRunner(g, Options()).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        var expected = new List<string>();
        foreach (var b in input)
        {
            var rb = b.Data;
            var st = (Int32Array)rb.Column(2);
            var am = (DoubleArray)rb.Column(3);
            var q = (Int64Array)rb.Column(4);
            var nm = (StringArray)rb.Column(5);
            for (var i = 0; i < rb.Length; i++)
            {
                if (!(st.GetValue(i) < 5 && am.GetValue(i) > 10)) continue;
                expected.Add($"{((Int64Array)rb.Column(0)).GetValue(i)}|{(am.GetValue(i)!.Value * q.GetValue(i)!.Value).ToString("R", System.Globalization.CultureInfo.InvariantCulture)}|{nm.GetString(i)?.ToUpperInvariant() ?? "null"}");
            }
        }
        Assert.Equal(expected.Order(), sink.Committed.Order());
        Assert.Equal(20_000, result.SourceRows);
        Assert.Equal(expected.Count, result.SinkRows);
        foreach (var b in input) b.Dispose();
    }

    [Fact]
    public async Task Keyed_running_count_over_a_hash_edge_numbers_each_key_in_order()
    {
        var input = TestData.Orders(10_000, 500);
        var schema = TestData.OrdersSchema;
        var counter = new RunningCountOperator(schema, "customer", "seq");
        var sink = new TwoPhaseListSink("out");
        var g = new JobGraph { Name = "rc" };
        var src = g.Add(new JobVertex { Name = "source", Parallelism = 1, Source = new InMemorySource("mem", schema, input), OutputSchema = schema, CreateChain = _ => [] });
        var op = g.Add(new JobVertex { Name = "count", Parallelism = 3, OutputSchema = counter.OutputSchema, CreateChain = _ => [new RunningCountOperator(schema, "customer", "seq"), new SinkOperator(sink, counter.OutputSchema)] });
        JobGraph.Connect(src, op, Partitioning.Hash, [1]);
        await new JobRunner(g, Options()).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        var rows = sink.Committed.Select(r => r.Split('|')).ToList();
        Assert.Equal(10_000, rows.Count);
        foreach (var grp in rows.GroupBy(r => r[1]))
        {
            var ordered = grp.OrderBy(r => long.Parse(r[0], System.Globalization.CultureInfo.InvariantCulture)).Select(r => long.Parse(r[^1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(Enumerable.Range(1, ordered.Count).Select(i => (long)i), ordered);
        }
        foreach (var b in input) b.Dispose();
    }

    [Fact]
    public async Task A_slow_sink_backpressures_the_source()
    {
        var input = TestData.Orders(40_000, 1000);
        var (g, sink) = FilterProjectJob(input, 1, "id >= 0", ["id"]);
        sink.DelayPerBatch = TimeSpan.FromMilliseconds(5);
        var options = Options(limits: new EdgeLimits(MaxRows: 3000, MaxBytes: 1 << 20));
        var run = new JobRunner(g, options).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        long maxAhead = 0;
        while (!run.IsCompleted)
        {
            maxAhead = Math.Max(maxAhead, Interlocked.Read(ref options.Metrics.SourceRows) - Interlocked.Read(ref options.Metrics.SinkRows));
            await Task.Delay(2, TestContext.Current.CancellationToken);
        }
        await run;
        // The edge holds at most 3000 rows, plus one batch in the sink and one being pushed by the source.
        Assert.InRange(maxAhead, 1, 3000 + 2 * 1000);
        Assert.True(options.Metrics.BackpressureTicks > 0);
        Assert.Equal(40_000, sink.Committed.Count);
        foreach (var b in input) b.Dispose();
    }

    [Fact]
    public async Task A_failed_run_restarts_from_the_last_checkpoint_without_loss_or_duplicates()
    {
        var dir = Path.Combine(Path.GetTempPath(), "aietl-ckpt-" + Guid.NewGuid().ToString("N"));
        try
        {
            var input = TestData.Orders(30_000, 500);
            var (g1, sink) = FilterProjectJob(input, 2, "status <> 3", ["id", "customer"]);
            sink.FailAfterBatches = 60;
            sink.DelayPerBatch = TimeSpan.FromMilliseconds(2);
            var store = new DirectoryCheckpointStore(dir);
            await Assert.ThrowsAsync<PipelineFailedException>(() =>
                new JobRunner(g1, Options(store, TimeSpan.FromMilliseconds(10), new EdgeLimits(2000, 1 << 20))).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken));
            var committedBefore = sink.Committed.Count;
            Assert.NotNull(store.LoadLatest());

            // Same plan, same "external system" (the sink's committed list): the restart resumes from the checkpoint.
            var (g2, _) = FilterProjectJob(input, 2, "status <> 3", ["id", "customer"]);
            var v = g2.Vertices.Single(x => x.IsSink);
            var g3 = new JobGraph { Name = "test" };
            var src = g3.Add(g2.Vertices[0]);
            src.Outputs.Clear();
            var snk = g3.Add(new JobVertex { Name = v.Name, Parallelism = v.Parallelism, OutputSchema = v.OutputSchema, IsSink = true, CreateChain = _ => [new SinkOperator(sink, v.OutputSchema)] });
            JobGraph.Connect(src, snk, Partitioning.Forward);
            sink.FailAfterBatches = -1;
            var result = await new JobRunner(g3, Options(store, TimeSpan.FromMilliseconds(10))).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
            Assert.NotNull(result.RestoredFromCheckpoint);
            var expected = input.SelectMany(b => Enumerable.Range(0, b.Length).Where(i => ((Int32Array)b.Column(2)).GetValue(i) != 3)
                .Select(i => $"{((Int64Array)b.Column(0)).GetValue(i)}|{((Int64Array)b.Column(1)).GetValue(i)}")).Order().ToList();
            Assert.True(committedBefore < expected.Count);
            var dups = sink.Committed.GroupBy(x => x).Where(x => x.Count() > 1).Select(x => x.Key).ToList();
            Assert.True(dups.Count == 0, $"restored {result.RestoredFromCheckpoint}, committed before {committedBefore}, total {sink.Committed.Count}, expected {expected.Count}, dups {dups.Count}: {string.Join(",", dups.Take(20))}");
            Assert.Equal(expected, sink.Committed.Order().ToList());
            foreach (var b in input) b.Dispose();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
