using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors.Generator;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Memory;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>Allocation is counted process-wide: this collection runs alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(AllocationCounting), DisableParallelization = true)]
public sealed class AllocationCounting;

/// <summary>
/// The generator → filter + select → slow sink path (the <c>slow-sink</c> benchmark) allocates almost nothing
/// per batch in steady state: the Arrow wrappers and record batches are reused (<see cref="ArrowReuse"/>), the
/// async steps on the path use pooled state machines, and waiting on a full edge or a sleeping sink reuses one
/// wait object. Before this, ~4.7 KB of managed objects per 8192-row batch piled up without a gen0 collection for
/// minutes, and RSS grew ~24% over 60 s. The bounds below fail if that comes back; allocation counts do not depend
/// on timing.
/// </summary>
[Collection(nameof(AllocationCounting))]
public sealed class SteadyStateAllocationTests
{
    private const int BatchRows = 8192;

    /// <summary>What remains per batch: the two small <see cref="Batch"/> objects (source and operator output).</summary>
    private const long MaxBytesPerBatchPipeline = 512;

    private const long MaxBytesPerBatchInline = 320;

    private static readonly Schema Orders = GeneratorSource.SchemaOf(GeneratorKind.Orders);

    private static FilterProjectOperator SlowSinkOperator()
    {
        var binder = new Binder(Orders);
        var pred = binder.Bind(ExprParser.Parse("status <> 'cancelled'"));
        var projections = new[] { "order_id", "customer_id", "amount * qty AS total", "country", "ts" }
            .Select(ExprParser.ParseNamed).Select(n => (n.Alias ?? ((ColumnRef)n.Expr).Name, binder.Bind(n.Expr))).ToList();
        return new FilterProjectOperator(Orders, pred, projections);
    }

    [Fact]
    public async Task Generator_filter_project_allocates_at_most_a_few_hundred_bytes_per_batch_on_one_thread()
    {
        var op = SlowSinkOperator();
        await op.OpenAsync(new OperatorContext { Task = Contexts.Create().Task, Metrics = new EngineMetrics("alloc"), DeadLetters = new CollectingDeadLetters() }, null, CancellationToken.None);
        await using var reader = new GeneratorSource(new GeneratorOptions { Seed = 3, BatchSize = BatchRows }).CreateReader(Contexts.Create());
        long rowsOut = 0;
        async ValueTask Step()
        {
            using var input = await reader.ReadNextBatchAsync(CancellationToken.None);
            using var output = op.Apply(input!)!;
            rowsOut += output.Length;
        }
        for (var i = 0; i < 50; i++) await Step();
        const int measured = 200;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < measured; i++) await Step();
        var perBatch = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)measured;

        Assert.True(rowsOut > 250 * BatchRows * 8 / 10, $"{rowsOut} rows out");
        Assert.True(perBatch <= MaxBytesPerBatchInline, $"{perBatch:F0} B allocated per 8192-row batch (bound {MaxBytesPerBatchInline})");
    }

    [Fact]
    public async Task The_slow_sink_pipeline_under_backpressure_allocates_at_most_a_few_hundred_bytes_per_batch()
    {
        const int batches = 500;
        const int from = 150, to = 450; // the measured part: sink batches [from, to)
        var sink = new ProbeSink(TimeSpan.FromMilliseconds(2), from, to);
        var outSchema = SlowSinkOperator().OutputSchema;
        var g = new JobGraph { Name = "alloc" };
        var src = g.Add(new JobVertex
        {
            Name = "source", Parallelism = 1, OutputSchema = outSchema,
            Source = new GeneratorSource(new GeneratorOptions { Rows = batches * BatchRows, BatchSize = BatchRows, Seed = 9 }),
            CreateChain = _ => [SlowSinkOperator()],
        });
        var snk = g.Add(new JobVertex
        {
            Name = "sink", Parallelism = 1, OutputSchema = outSchema, IsSink = true,
            CreateChain = _ => [new SinkOperator(sink, outSchema)],
        });
        JobGraph.Connect(src, snk, Partitioning.Forward);
        using var metrics = new EngineMetrics("alloc");
        sink.Metrics = metrics;
        // Room for two batches: the source waits for credit at almost every batch.
        var options = new JobOptions { DeadLetters = new CollectingDeadLetters(), Metrics = metrics, EdgeLimits = new EdgeLimits(MaxRows: 2 * BatchRows) };

        var result = await new JobRunner(g, options).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);

        Assert.Equal((long)batches * BatchRows, result.SourceRows);
        Assert.Equal(batches, sink.Batches);
        Assert.True(sink.BackpressureTicksInWindow > 0, "the source never waited for credit in the measured part: the test did not cover the wait path");
        var perBatch = sink.AllocatedInWindow / (double)(to - from);
        Assert.True(perBatch <= MaxBytesPerBatchPipeline,
            $"{perBatch:F0} B allocated per 8192-row batch through generator → filter + select → edge → sleeping sink (bound {MaxBytesPerBatchPipeline})");
    }

    [Fact]
    public void Arrow_wrappers_are_refilled_only_in_a_later_rental_of_their_buffer()
    {
        Assert.True(ArrowReuse.Supported, "this Apache.Arrow version lacks the fields ArrowReuse writes: batches would allocate again");
        var pool = new BufferPool();
        var asm = new BatchAssembler(pool);
        var schema = new Schema.Builder().Field(ColumnTypes.Field("x", ColumnKind.Int64)).Build();

        Batch Make(int n, long start)
        {
            var buf = asm.Rent(n * 8);
            var span = buf.As<long>();
            for (var i = 0; i < n; i++) span[i] = start + i;
            return asm.Build(schema, [asm.Fixed(ColumnKind.Int64, n, buf, null, 0)], n);
        }

        var first = Make(10, 100);
        var firstArray = first.Column(0);
        var firstData = first.Data;
        first.Dispose();
        // The buffer comes back from the pool (same size class): the same array and record batch objects, refilled.
        using var second = Make(9, 200);
        Assert.Same(firstArray, second.Column(0));
        Assert.Same(firstData, second.Data);
        Assert.Equal(9, second.Length);
        Assert.Equal(9, second.Column(0).Length);
        Assert.Equal([200L, 201, 202, 203, 204, 205, 206, 207, 208], ((Int64Array)second.Column(0)).Values.ToArray());

        // Still held: a new batch gets new objects and the held one keeps its values.
        using var third = Make(12, 300);
        Assert.NotSame(second.Column(0), third.Column(0));
        Assert.NotSame(second.Data, third.Data);
        Assert.Equal(9, second.Column(0).Length);
        Assert.Equal(200L, ((Int64Array)second.Column(0)).Values[0]);
        Assert.Equal(Enumerable.Range(300, 12).Select(v => (long)v), ((Int64Array)third.Column(0)).Values.ToArray());

        // The same buffer wrapped twice in one rental: two arrays (refilling the first would change a live column).
        var shared = asm.Rent(64);
        var a = asm.Fixed(ColumnKind.Int64, 4, shared, null, 0);
        var b = asm.Fixed(ColumnKind.Int64, 2, shared, null, 0);
        Assert.NotSame(a, b);
        Assert.Equal(4, a.Length);
        asm.Abandon();
    }

    [Fact]
    public void Reused_string_and_nullable_columns_carry_the_new_lengths_null_counts_and_values()
    {
        var schema = new Schema.Builder().Field(ColumnTypes.Field("s", ColumnKind.String)).Field(ColumnTypes.Field("i", ColumnKind.Int32)).Build();
        var pool = new BufferPool();
        using var builder = new BatchBuilder(schema, 16, pool);
        var seen = new List<string>();
        for (var round = 0; round < 6; round++)
        {
            var n = 3 + round % 3;
            for (var r = 0; r < n; r++)
            {
                if ((r + round) % 2 == 0) builder[0].AppendNull();
                else builder[0].AppendUtf8(System.Text.Encoding.UTF8.GetBytes($"v{round}.{r}"));
                if (r == round % n) builder[1].AppendNull();
                else builder[1].AppendInt32(round * 10 + r);
            }
            using var batch = builder.Build();
            var s = (StringArray)batch.Column(0);
            var i = (Int32Array)batch.Column(1);
            Assert.Equal(n, batch.Length);
            Assert.Equal(n, s.Length);
            Assert.Equal(n, i.Length);
            Assert.Equal(Enumerable.Range(0, n).Count(r => (r + round) % 2 == 0), s.NullCount);
            Assert.Equal(1, i.NullCount);
            for (var r = 0; r < n; r++)
            {
                Assert.Equal((r + round) % 2 == 0 ? null : $"v{round}.{r}", s.GetString(r));
                Assert.Equal(r == round % n ? null : round * 10 + r, i.GetValue(r));
            }
            seen.Add(string.Join(",", Enumerable.Range(0, n).Select(r => s.GetString(r) ?? "null")));
        }
        Assert.Equal(6, seen.Distinct().Count());
    }

    [Fact]
    public async Task A_reusable_delay_waits_and_is_cancelled()
    {
        using var delay = new ReusableDelay();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 3; i++) await delay.DelayAsync(TimeSpan.FromMilliseconds(20), CancellationToken.None);
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(55), $"three 20-ms waits took {sw.Elapsed.TotalMilliseconds:F0} ms");
        using var cts = new CancellationTokenSource();
        var pending = delay.DelayAsync(TimeSpan.FromMinutes(5), cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pending);
        await delay.DelayAsync(TimeSpan.FromMilliseconds(1), CancellationToken.None); // usable again after a cancel
    }

    [Fact]
    public async Task A_credit_wait_ends_when_credit_returns_or_when_cancelled()
    {
        var credit = new Credit(new EdgeLimits(MaxRows: 10));
        await credit.AcquireAsync(8, 80, CancellationToken.None);
        var waiting = credit.AcquireAsync(8, 80, CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        credit.Release(8, 80);
        await waiting; // admitted by the release
        Assert.Equal(8, credit.RowsInFlight);

        using var cts = new CancellationTokenSource();
        var blocked = credit.AcquireAsync(8, 80, cts.Token);
        Assert.False(blocked.IsCompleted);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await blocked);
        Assert.Equal(8, credit.RowsInFlight); // the cancelled acquire took nothing
        credit.Release(8, 80);
        await credit.AcquireAsync(8, 80, CancellationToken.None);
        Assert.Equal(8, credit.RowsInFlight);
    }

    /// <summary>Sleeps per batch through a <see cref="ReusableDelay"/> and reads the process's allocation counter at two batches.</summary>
    private sealed class ProbeSink(TimeSpan delayPerBatch, int from, int to) : ISink
    {
        private long _batches;
        private long _allocFrom;
        private long _backpressureFrom;

        public string Name => "probe";
        public int MaxParallelism => 1;
        public TimeSpan DelayPerBatch => delayPerBatch;
        public int From => from;
        public int To => to;
        public EngineMetrics? Metrics { get; set; }
        public long Batches => Interlocked.Read(ref _batches);
        public long AllocatedInWindow { get; private set; }
        public long BackpressureTicksInWindow { get; private set; }

        public ISinkWriter CreateWriter(Schema input, ConnectorContext context) => new Writer(this);

        private sealed class Writer(ProbeSink sink) : ISinkWriter
        {
            private readonly ReusableDelay _delay = new();

            public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => default;

            [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
            public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
            {
                var k = sink.Batches;
                if (k == sink.From)
                {
                    sink._allocFrom = GC.GetTotalAllocatedBytes(precise: true);
                    sink._backpressureFrom = Interlocked.Read(ref sink.Metrics!.BackpressureTicks);
                }
                else if (k == sink.To)
                {
                    sink.AllocatedInWindow = GC.GetTotalAllocatedBytes(precise: true) - sink._allocFrom;
                    sink.BackpressureTicksInWindow = Interlocked.Read(ref sink.Metrics!.BackpressureTicks) - sink._backpressureFrom;
                }
                await _delay.DelayAsync(sink.DelayPerBatch, ct);
                Interlocked.Increment(ref sink._batches);
            }

            public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) => ValueTask.FromResult<byte[]?>(null);

            public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;

            public ValueTask DisposeAsync()
            {
                _delay.Dispose();
                return default;
            }
        }
    }
}
