using AiEtl.Engine.Connectors.Generator;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>
/// A slow sink must hold the whole pipeline to what its edges' credit allows: the rows the sources have
/// produced and the sinks have not yet written never exceed the sum of the channels' row (or byte) limits
/// plus the one batch each source holds while it waits for credit. Checked at every source batch (a probe
/// first in each source chain) and by a polling loop; the bound does not depend on timing.
/// </summary>
public sealed class MemoryBoundTests
{
    private const int BatchRows = 1000;
    private static readonly Schema Orders = GeneratorSource.SchemaOf(GeneratorKind.Orders);

    private static FilterProjectOperator Op(Schema input, string? filter, params string[] select)
    {
        var binder = new Binder(input);
        var pred = filter == null ? null : binder.Bind(ExprParser.Parse(filter));
        var projections = select.Length == 0 ? null
            : select.Select(ExprParser.ParseNamed).Select(n => (n.Alias ?? ((ColumnRef)n.Expr).Name, binder.Bind(n.Expr))).ToList();
        return new FilterProjectOperator(input, pred, projections);
    }

    private static JobOptions Options(EngineMetrics metrics, EdgeLimits limits) => new()
    {
        DeadLetters = new CollectingDeadLetters(),
        Metrics = metrics,
        EdgeLimits = limits,
    };

    /// <summary>Runs the job, polling <c>SourceRows - SinkRows</c> until it ends; returns the largest value polled.</summary>
    private static async Task<long> RunPollingAsync(JobGraph graph, JobOptions options)
    {
        var run = new JobRunner(graph, options).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        long polled = 0;
        while (!run.IsCompleted)
        {
            polled = Math.Max(polled, Interlocked.Read(ref options.Metrics.SourceRows) - Interlocked.Read(ref options.Metrics.SinkRows));
            await Task.Delay(1, TestContext.Current.CancellationToken);
        }
        await run;
        return polled;
    }

    [Fact]
    public async Task Credit_bounds_rows_in_flight_across_a_hash_edge_between_two_sources_and_two_workers()
    {
        const int rows = 200_000;
        const long maxRows = 2000;
        var gen = new GeneratorOptions { Rows = rows, BatchSize = BatchRows, Seed = 5 };
        var workOp = Op(Orders, null, "order_id", "customer_id", "amount * qty AS total");
        var sink = new SlowCountingSink("slow", TimeSpan.FromMilliseconds(1));
        var probes = new List<AheadProbe>();
        var g = new JobGraph { Name = "bound" };
        var src = g.Add(new JobVertex
        {
            Name = "source", Parallelism = 2, Source = new GeneratorSource(gen), OutputSchema = Orders,
            CreateChain = _ =>
            {
                var probe = new AheadProbe(Orders);
                lock (probes) probes.Add(probe);
                return [probe, Op(Orders, "amount > 0")]; // every generated amount is ≥ 1.00: nothing is dropped
            },
        });
        var work = g.Add(new JobVertex
        {
            Name = "work", Parallelism = 2, OutputSchema = workOp.OutputSchema,
            CreateChain = _ => [Op(Orders, null, "order_id", "customer_id", "amount * qty AS total")],
        });
        var snk = g.Add(new JobVertex
        {
            Name = "sink", Parallelism = 2, OutputSchema = workOp.OutputSchema, IsSink = true,
            CreateChain = _ => [new SinkOperator(sink, workOp.OutputSchema)],
        });
        JobGraph.Connect(src, work, Partitioning.Hash, [1]);
        JobGraph.Connect(work, snk, Partitioning.Forward);
        using var metrics = new EngineMetrics("bound");
        var options = Options(metrics, new EdgeLimits(MaxRows: maxRows, MaxBytes: 1L << 30));

        var polled = await RunPollingAsync(g, options);

        // Channels: 2 × 2 on the hash edge, 2 on the forward edge; each holds at most maxRows rows.
        const long channels = 2 * 2 + 2;
        const long bound = channels * maxRows + 2 * BatchRows;
        var probed = probes.Max(p => p.MaxAhead);
        Assert.Equal(2, probes.Count);
        Assert.InRange(probed, 1, bound);
        Assert.InRange(polled, 0, bound);
        Assert.Equal(rows, sink.Rows);
        Assert.Equal(rows, metrics.SourceRows);
        Assert.True(metrics.BackpressureTicks > 0);
    }

    [Fact]
    public async Task The_byte_limit_bounds_rows_in_flight_when_the_row_limit_would_not()
    {
        const int rows = 100_000;
        var gen = new GeneratorOptions { Rows = rows, BatchSize = BatchRows, Seed = 6 };
        string[] select = ["order_id", "customer_id", "amount * qty AS total"];
        // Bytes of one projected batch, measured outside the runtime (fixed-width columns: every batch the same).
        long batchBytes;
        await using (var reader = new GeneratorSource(gen).CreateReader(Contexts.Create()))
        {
            using var first = await reader.ReadNextBatchAsync(CancellationToken.None);
            using var projected = Op(Orders, null, select).Apply(first!)!;
            batchBytes = projected.ByteSize;
        }
        Assert.True(batchBytes >= BatchRows * 3 * 8, $"{batchBytes} bytes");

        var outSchema = Op(Orders, null, select).OutputSchema;
        var sink = new SlowCountingSink("slow", TimeSpan.FromMilliseconds(1));
        AheadProbe? probe = null;
        var g = new JobGraph { Name = "bytes" };
        var src = g.Add(new JobVertex
        {
            Name = "source", Parallelism = 1, Source = new GeneratorSource(gen), OutputSchema = outSchema,
            CreateChain = _ => [probe = new AheadProbe(Orders), Op(Orders, null, select)],
        });
        var snk = g.Add(new JobVertex
        {
            Name = "sink", Parallelism = 1, OutputSchema = outSchema, IsSink = true,
            CreateChain = _ => [new SinkOperator(sink, outSchema)],
        });
        JobGraph.Connect(src, snk, Partitioning.Forward);
        using var metrics = new EngineMetrics("bytes");
        // Room for three batches by bytes; the row limit alone would admit the whole input.
        var options = Options(metrics, new EdgeLimits(MaxRows: 10 * rows, MaxBytes: 3 * batchBytes + batchBytes / 2));

        var polled = await RunPollingAsync(g, options);

        const long bound = 3 * BatchRows + 2 * BatchRows;
        Assert.InRange(probe!.MaxAhead, 1, bound);
        Assert.InRange(polled, 0, bound);
        Assert.Equal(rows, sink.Rows);
        Assert.True(metrics.BackpressureTicks > 0);
    }
}
