using System.Diagnostics;
using AiEtl.Engine.Connectors.Generator;
using AiEtl.Engine.Connectors.Sinks;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>
/// The instruments of the <c>AiEtl.Engine</c> meter, observed through a <c>MeterListener</c> while small
/// generator pipelines run, checked against values computed independently of the runtime.
/// </summary>
public sealed class MetricsTests
{
    private const int Rows = 50_000;
    private const string PaidFilter = "status = 'paid'";
    private static readonly Schema Orders = GeneratorSource.SchemaOf(GeneratorKind.Orders);

    private static GeneratorOptions Generator(int batchSize = 8192) => new() { Rows = Rows, BatchSize = batchSize, Seed = 11 };

    private static FilterProjectOperator Filter(string predicate) =>
        new(Orders, new Binder(Orders).Bind(ExprParser.Parse(predicate)), null);

    private static FilterProjectOperator Select(Schema input, params string[] select)
    {
        var binder = new Binder(input);
        var projections = select.Select(ExprParser.ParseNamed).Select(n => (n.Alias ?? ((ColumnRef)n.Expr).Name, binder.Bind(n.Expr))).ToList();
        return new FilterProjectOperator(input, null, projections);
    }

    private static JobOptions Options(MeterCapture capture, IDeadLetterOutput? deadLetters = null, EdgeLimits? limits = null,
        TimeSpan? checkpointInterval = null, ICheckpointStore? store = null) => new()
    {
        DeadLetters = deadLetters ?? new CollectingDeadLetters(),
        Metrics = capture.Metrics,
        EdgeLimits = limits ?? EdgeLimits.Default,
        CheckpointInterval = checkpointInterval,
        Store = store ?? new InMemoryCheckpointStore(),
    };

    /// <summary>generator → filter (source vertex) → forward edge → sink vertex.</summary>
    private static JobGraph TwoVertexJob(GeneratorOptions generator, Func<Operator> filter, ISink sink)
    {
        var schema = filter().OutputSchema;
        var g = new JobGraph { Name = "metrics" };
        var src = g.Add(new JobVertex
        {
            Name = "source", Parallelism = 1, Source = new GeneratorSource(generator), OutputSchema = schema,
            CreateChain = _ => [filter()],
        });
        var snk = g.Add(new JobVertex
        {
            Name = "sink", Parallelism = 1, OutputSchema = schema, IsSink = true,
            CreateChain = _ => [new SinkOperator(sink, schema)],
        });
        JobGraph.Connect(src, snk, Partitioning.Forward);
        return g;
    }

    /// <summary>The generator's batches read directly (not through the runtime).</summary>
    private static async Task<List<Batch>> GeneratorBatches(GeneratorOptions o)
    {
        await using var reader = new GeneratorSource(o).CreateReader(Contexts.Create());
        var list = new List<Batch>();
        while (await reader.ReadNextBatchAsync(CancellationToken.None) is { } b) list.Add(b);
        return list;
    }

    private static int CountStatus(IEnumerable<Batch> batches, string status)
    {
        var n = 0;
        foreach (var b in batches)
        {
            var s = (StringArray)b.Column(5);
            for (var i = 0; i < b.Length; i++) if (s.GetString(i) == status) n++;
        }
        return n;
    }

    [Fact]
    public async Task Rows_and_bytes_in_and_out_are_counted_for_every_operator_of_a_fused_chain()
    {
        var gen = Generator();
        var input = await GeneratorBatches(gen);
        var paid = CountStatus(input, "paid");
        long inputBytes = input.Sum(b => b.ByteSize);
        // What the filter and the projection emit, computed by applying them outside the runtime.
        var filterCheck = Filter(PaidFilter);
        var projectCheck = Select(Orders, "order_id", "amount * qty AS total");
        long filteredBytes = 0, projectedBytes = 0;
        foreach (var b in input)
        {
            using var f = filterCheck.Apply(b)!;
            using var p = projectCheck.Apply(f)!;
            filteredBytes += f.ByteSize;
            projectedBytes += p.ByteSize;
            b.Dispose();
        }
        Assert.InRange(paid, Rows / 2, Rows - 1);

        using var capture = new MeterCapture();
        var sink = new NullSink("out");
        var outSchema = projectCheck.OutputSchema;
        var g = new JobGraph { Name = "metrics" };
        g.Add(new JobVertex
        {
            Name = "source", Parallelism = 1, Source = new GeneratorSource(gen), OutputSchema = outSchema, IsSink = true,
            CreateChain = _ => [Filter(PaidFilter), Select(Orders, "order_id", "amount * qty AS total"), new SinkOperator(sink, outSchema)],
        });
        var result = await new JobRunner(g, Options(capture)).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);

        Assert.Equal(Rows, result.SourceRows);
        Assert.Equal(paid, result.SinkRows);
        Assert.Equal(paid, sink.Rows);
        Assert.Equal(new string?[] { "filter", "project", "sink:out" }, capture.Operators("aietl.operator.rows_in"));
        Assert.Equal(Rows, capture.Sum("aietl.operator.rows_in", "filter"));
        Assert.Equal(paid, capture.Sum("aietl.operator.rows_out", "filter"));
        Assert.Equal(paid, capture.Sum("aietl.operator.rows_in", "project"));
        Assert.Equal(paid, capture.Sum("aietl.operator.rows_out", "project"));
        Assert.Equal(paid, capture.Sum("aietl.operator.rows_in", "sink:out"));
        Assert.Equal(0, capture.Count("aietl.operator.rows_out", "sink:out"));

        Assert.Equal(inputBytes, capture.Sum("aietl.operator.bytes_in", "filter"));
        Assert.Equal(filteredBytes, capture.Sum("aietl.operator.bytes_out", "filter"));
        Assert.Equal(filteredBytes, capture.Sum("aietl.operator.bytes_in", "project"));
        Assert.Equal(projectedBytes, capture.Sum("aietl.operator.bytes_out", "project"));
        Assert.Equal(projectedBytes, capture.Sum("aietl.operator.bytes_in", "sink:out"));
        Assert.True(projectedBytes < filteredBytes && filteredBytes < inputBytes, $"{projectedBytes} < {filteredBytes} < {inputBytes}");

        // A fused chain runs in the source task: one latency record per source batch.
        Assert.Equal(input.Count, capture.Count("aietl.operator.batch_latency"));
        Assert.All(capture.Of("aietl.operator.batch_latency"), m => Assert.True(m.Value >= 0));
    }

    [Fact]
    public async Task Batch_latency_is_recorded_for_every_batch_of_every_task_and_includes_the_sink_time()
    {
        var gen = Generator(batchSize: 5000);
        var delay = TimeSpan.FromMilliseconds(5);
        var sink = new SlowCountingSink("slow", delay);
        using var capture = new MeterCapture();
        var result = await new JobRunner(TwoVertexJob(gen, () => Filter(PaidFilter), sink), Options(capture))
            .RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);

        const int batches = Rows / 5000;
        Assert.Equal(batches, sink.Batches); // every 5000-row batch has paid rows
        Assert.Equal(result.SinkRows, capture.Sum("aietl.operator.rows_in", "sink:slow"));
        var latencies = capture.Of("aietl.operator.batch_latency").Select(m => m.Value).Order().ToList();
        // One record per batch in the source task and one per batch in the sink task.
        Assert.Equal(2 * batches, latencies.Count);
        // The sink task's records contain its sleep (timers do not fire early by more than their 1 ms tick).
        Assert.All(latencies.TakeLast(batches), v => Assert.True(v >= delay.TotalMilliseconds - 1, $"latency {v} ms"));
    }

    [Fact]
    public async Task Backpressure_time_is_reported_when_a_slow_sink_fills_small_edges()
    {
        var gen = Generator(batchSize: 1000);
        const int batches = Rows / 1000;
        var delay = TimeSpan.FromMilliseconds(5);
        using var capture = new MeterCapture();
        var sink = new SlowCountingSink("slow", delay);
        // 650–750 paid rows per 1000-row batch: the edge holds two batches.
        var limits = new EdgeLimits(MaxRows: 1500, MaxBytes: 64L << 20);
        var result = await new JobRunner(TwoVertexJob(gen, () => Filter(PaidFilter), sink), Options(capture, limits: limits))
            .RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        Assert.Equal(batches, sink.Batches);

        var reportedMs = capture.Sum("aietl.edge.backpressure_time");
        var liveMs = capture.Metrics.BackpressureTicks * 1000.0 / Stopwatch.Frequency;
        Assert.True(capture.Count("aietl.edge.backpressure_time") > 0);
        Assert.Equal(liveMs, reportedMs, 6);
        // The source is at most three batches ahead (two in the edge, one in hand), so it cannot finish before the
        // sink has slept (batches - 3) times; it spends most of that time blocked (its own work is far below 1 ms a batch).
        var sinkSleepMs = (batches - 3) * delay.TotalMilliseconds;
        Assert.True(reportedMs >= sinkSleepMs / 2, $"backpressure {reportedMs:F1} ms, sink slept at least {sinkSleepMs} ms");

        // Control: with the default limits all of the filter's output fits in the edge and nothing waits.
        using var control = new MeterCapture();
        await new JobRunner(TwoVertexJob(gen, () => Filter(PaidFilter), new SlowCountingSink("slow", delay)), Options(control))
            .RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        Assert.Equal(0, control.Count("aietl.edge.backpressure_time"));
        Assert.Equal(0, control.Metrics.BackpressureTicks);
        Assert.Equal(result.SinkRows, control.Metrics.SinkRows);
    }

    [Fact]
    public async Task Checkpoint_duration_and_size_are_recorded_for_every_checkpoint()
    {
        var gen = Generator(batchSize: 1000);
        using var capture = new MeterCapture();
        var store = new InMemoryCheckpointStore();
        var sink = new SlowCountingSink("slow", TimeSpan.FromMilliseconds(3));
        var wall = Stopwatch.StartNew();
        var result = await new JobRunner(TwoVertexJob(gen, () => Filter(PaidFilter), sink),
                Options(capture, limits: new EdgeLimits(2000, 64L << 20), checkpointInterval: TimeSpan.FromMilliseconds(20), store: store))
            .RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        wall.Stop();

        // 50 batches × 3 ms of sink time against a 20 ms interval: periodic checkpoints plus the final one.
        Assert.True(result.CheckpointsCompleted >= 2, $"{result.CheckpointsCompleted} checkpoints");
        var durations = capture.Of("aietl.checkpoint.duration");
        var sizes = capture.Of("aietl.checkpoint.size");
        Assert.Equal(result.CheckpointsCompleted, durations.Count);
        Assert.Equal(result.CheckpointsCompleted, sizes.Count);
        Assert.All(durations, d => Assert.InRange(d.Value, 0, wall.Elapsed.TotalMilliseconds));
        // Each checkpoint holds the generator reader's position (13 bytes) and the sink's pre-commit state (8 bytes).
        Assert.All(sizes, s => Assert.Equal(13 + 8, s.Value));
        Assert.Equal(21, store.LoadLatest()!.SizeBytes);
        Assert.Equal(result.CheckpointsCompleted, store.LoadLatest()!.Id);
    }

    [Fact]
    public async Task Rows_that_fail_a_cast_are_counted_as_dead_letters()
    {
        var gen = Generator();
        using var capture = new MeterCapture();
        var letters = new CollectingDeadLetters();
        var sink = new SlowCountingSink("out", TimeSpan.Zero);
        // status holds words ("paid", …): casting it to int64 fails on every row.
        var result = await new JobRunner(TwoVertexJob(gen, () => Select(Orders, "order_id", "CAST(status AS int64) AS status"), sink), Options(capture, letters))
            .RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);

        Assert.Equal(Rows, result.SourceRows);
        Assert.Equal(Rows, capture.Sum("aietl.dead_letters"));
        Assert.Equal(Rows, capture.Metrics.DeadLetters);
        Assert.Equal(Rows, letters.Count);
        Assert.Equal(Rows, result.DeadLetters);
        Assert.All(letters.Letters.Take(10), l => Assert.Equal("cast", l.ErrorClass));
        Assert.Equal(Rows, capture.Sum("aietl.operator.rows_in", "project"));
        Assert.Equal(0, capture.Sum("aietl.operator.rows_out", "project"));
        Assert.Equal(0, sink.Rows);

        // Control: a cast that succeeds produces no dead letters and every row reaches the sink.
        using var control = new MeterCapture();
        var ok = await new JobRunner(TwoVertexJob(gen, () => Select(Orders, "order_id", "CAST(qty AS int64) AS qty"), new SlowCountingSink("out", TimeSpan.Zero)), Options(control))
            .RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        Assert.Equal(0, control.Count("aietl.dead_letters"));
        Assert.Equal(Rows, ok.SinkRows);
    }
}
