using AiEtl.Engine;
using AiEtl.Engine.Memory;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// A hand-written fused kernel for <c>core</c> (a peer: the ceiling for this exact query, no runtime): <c>SELECT id, customer_id, amount * qty AS total, ts FROM t WHERE
/// status &lt; 5</c> over owned Arrow batches into a null sink that counts the rows and sums <c>total</c>.
/// </summary>
public static class CoreHandKernel
{
    private static readonly Schema OutputSchema = new Schema.Builder()
        .Field(new Field("id", Int64Type.Default, nullable: false))
        .Field(new Field("customer_id", Int64Type.Default, nullable: false))
        .Field(new Field("total", DoubleType.Default, nullable: false))
        .Field(new Field("ts", CoreData.Schema.GetFieldByIndex(CoreData.Ts).DataType, nullable: false))
        .Build();

    /// <summary>Runs the query over <paramref name="input"/> with <paramref name="parallelism"/> workers.</summary>
    /// <returns>Rows that reached the sink and the sum of their <c>total</c>.</returns>
    public static (long Rows, double Checksum) Run(IReadOnlyList<Batch> input, int parallelism)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelism, 1);

        // Column-at-a-time kernels over Arrow Values spans — the predicate into
        // an int32 selection vector, the selected rows gathered into pooled output buffers, amount * qty
        // evaluated on the selected rows — with `parallelism` workers taking whole batches. Allocation
        // is per batch (the output RecordBatch and its array objects), never per row.
        var maxRows = 0;
        foreach (var b in input) maxRows = Math.Max(maxRows, b.Length);
        var workers = Math.Min(parallelism, Math.Max(input.Count, 1));
        var results = new (long Rows, double Sum)[workers];
        var next = -1;
        var pool = BufferPool.Shared;

        void Work(int w)
        {
            using var scratch = new Scratch(pool, maxRows);
            var sink = new NullSink();
            int i;
            while ((i = Interlocked.Increment(ref next)) < input.Count)
            {
                using var output = FilterProject(input[i], scratch, pool);
                sink.Consume(output);
            }
            results[w] = (sink.Rows, sink.Sum);
        }

        if (workers == 1)
        {
            Work(0);
        }
        else
        {
            var threads = new Thread[workers - 1];
            for (var w = 1; w < workers; w++)
            {
                var index = w;
                threads[w - 1] = new Thread(() => Work(index)) { IsBackground = true, Name = $"core-engine-{index}" };
                threads[w - 1].Start();
            }
            Work(0);
            foreach (var t in threads) t.Join();
        }

        long rows = 0;
        double sum = 0;
        foreach (var r in results)
        {
            rows += r.Rows;
            sum += r.Sum;
        }
        return (rows, sum);
    }

    /// <summary>One batch through WHERE + SELECT; the returned batch owns its pooled buffers.</summary>
    private static Batch FilterProject(Batch input, Scratch scratch, BufferPool pool)
    {
        var status = CoreData.Int32(input, CoreData.Status);
        var n = CoreKernels.SelectLessThan(status, CoreData.StatusBound, scratch.Selection.As<int>());
        ReadOnlySpan<int> sel = scratch.Selection.As<int>()[..n];

        var bytes = n * sizeof(long);
        var id = pool.Rent(bytes);
        var customer = pool.Rent(bytes);
        var total = pool.Rent(bytes);
        var ts = pool.Rent(bytes);

        CoreKernels.Gather(CoreData.Int64(input, CoreData.Id), sel, id.As<long>());
        CoreKernels.Gather(CoreData.Int64(input, CoreData.CustomerId), sel, customer.As<long>());
        CoreKernels.Gather(CoreData.Int64(input, CoreData.Ts), sel, ts.As<long>());

        // amount * qty evaluated on the selected rows only, reading both operands through the selection
        // (gathering them into scratch columns first and multiplying densely measured ~20% slower per
        // CPU-second here: two extra passes of writes and reads).
        CoreKernels.GatherMultiply(CoreData.Float64(input, CoreData.Amount), CoreData.Int64(input, CoreData.Qty), sel, total.As<double>());

        var arrays = new IArrowArray[]
        {
            Wrap(OutputSchema.GetFieldByIndex(0).DataType, id, n),
            Wrap(OutputSchema.GetFieldByIndex(1).DataType, customer, n),
            Wrap(OutputSchema.GetFieldByIndex(2).DataType, total, n),
            Wrap(OutputSchema.GetFieldByIndex(3).DataType, ts, n),
        };
        return new Batch(new RecordBatch(OutputSchema, arrays, n), pool, [id, customer, total, ts], 4, 4L * bytes);
    }

    private static IArrowArray Wrap(IArrowType type, NativeBuffer values, int length) =>
        ArrowArrayFactory.BuildArray(new ArrayData(type, length, 0, 0,
            [ArrowBuffer.Empty, new ArrowBuffer(values.Memory[..(length * sizeof(long))])]));

    /// <summary>Per-worker buffers reused across batches.</summary>
    private sealed class Scratch : IDisposable
    {
        private readonly BufferPool _pool;

        public Scratch(BufferPool pool, int rows)
        {
            _pool = pool;
            Selection = pool.Rent(Math.Max(rows, 1) * sizeof(int));
        }

        /// <summary>Int32 row indices that passed the predicate.</summary>
        public NativeBuffer Selection { get; }

        public void Dispose() => _pool.Return(Selection);
    }

    /// <summary>Touches the output so that no work can be skipped: counts rows, sums <c>total</c>.</summary>
    private struct NullSink
    {
        public long Rows;
        public double Sum;

        public void Consume(Batch batch)
        {
            Rows += batch.Length;
            Sum += CoreKernels.Sum(((DoubleArray)batch.Column(2)).Values);
        }
    }
}
