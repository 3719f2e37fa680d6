using System.Buffers;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Dataflow;
using AiEtl.Engine;
using DuckDB.NET.Data;

namespace AiEtl.Bench.Scenarios;

/// <summary>Plain LINQ over objects, row at a time, one thread.</summary>
public static class CoreLinq
{
    public static (long Rows, double Checksum) Run(List<Order> orders)
    {
        long rows = 0;
        double sum = 0;
        foreach (var r in orders
                     .Where(o => o.Status < CoreData.StatusBound)
                     .Select(o => (o.Id, o.CustomerId, Total: o.Amount * o.Qty, o.Ts)))
        {
            rows++;
            sum += r.Total;
        }
        return (rows, sum);
    }
}

/// <summary>
/// TPL Dataflow: chunks of row objects → a bounded TransformBlock (filter + project, one worker per core)
/// → a bounded ActionBlock null sink. Output chunks come from <see cref="ArrayPool{T}"/> and go back
/// after the sink, so steady state allocates per chunk only (Dataflow's own messages).
/// </summary>
public static class CoreDataflow
{
    public const int ChunkRows = 4096;

    public readonly record struct OrderOut(long Id, long CustomerId, double Total, long Ts);

    public static Order[][] Chunk(List<Order> orders)
    {
        var chunks = new Order[(orders.Count + ChunkRows - 1) / ChunkRows][];
        for (var c = 0; c < chunks.Length; c++)
        {
            var start = c * ChunkRows;
            var len = Math.Min(ChunkRows, orders.Count - start);
            chunks[c] = orders.GetRange(start, len).ToArray();
        }
        return chunks;
    }

    public static (long Rows, double Checksum) Run(Order[][] chunks, int parallelism)
    {
        var transform = new TransformBlock<Order[], (OrderOut[] Rows, int Count)>(
            chunk =>
            {
                var output = ArrayPool<OrderOut>.Shared.Rent(chunk.Length);
                var n = 0;
                foreach (var o in chunk)
                {
                    if (o.Status < CoreData.StatusBound) output[n++] = new OrderOut(o.Id, o.CustomerId, o.Amount * o.Qty, o.Ts);
                }
                return (output, n);
            },
            new ExecutionDataflowBlockOptions
            {
                MaxDegreeOfParallelism = parallelism,
                BoundedCapacity = 4 * parallelism,
                EnsureOrdered = false,
                SingleProducerConstrained = true,
            });
        long rows = 0;
        double sum = 0;
        var sink = new ActionBlock<(OrderOut[] Rows, int Count)>(
            chunk =>
            {
                rows += chunk.Count;
                for (var i = 0; i < chunk.Count; i++) sum += chunk.Rows[i].Total;
                ArrayPool<OrderOut>.Shared.Return(chunk.Rows);
            },
            new ExecutionDataflowBlockOptions { MaxDegreeOfParallelism = 1, BoundedCapacity = 4 * parallelism });
        transform.LinkTo(sink, new DataflowLinkOptions { PropagateCompletion = true });

        foreach (var chunk in chunks)
        {
            if (!transform.SendAsync(chunk).GetAwaiter().GetResult()) throw new InvalidOperationException("dataflow pipeline refused input");
        }
        transform.Complete();
        sink.Completion.GetAwaiter().GetResult();
        return (rows, sum);
    }
}

/// <summary>
/// DuckDB in-process, in memory: the rows are loaded once with the appender (not timed); the timed query
/// ends in an aggregate so no rows ship to .NET.
/// </summary>
public sealed class CoreDuckDb : IDisposable
{
    public const string Query =
        "SELECT count(*), sum(total) FROM (SELECT id, customer_id, amount * qty AS total, ts FROM t WHERE status < 5)";

    /// <summary>
    /// The same, aggregating every projected column: DuckDB prunes columns the outer query never reads, so
    /// <see cref="Query"/> only scans status, amount and qty while the engine also carries id, customer_id
    /// and ts to its sink. This variant makes DuckDB read them too, with cheap max() aggregates (an extra
    /// figure, not the headline).
    /// </summary>
    public const string AllColumnsQuery =
        "SELECT count(*), sum(total), max(id), max(customer_id), max(ts) FROM (SELECT id, customer_id, amount * qty AS total, ts FROM t WHERE status < 5)";

    private readonly DuckDBConnection _connection;

    public CoreDuckDb(IReadOnlyList<Batch> batches, int threads)
    {
        _connection = new DuckDBConnection("Data Source=:memory:");
        _connection.Open();
        Execute("CREATE TABLE t (id BIGINT, customer_id BIGINT, status INTEGER, amount DOUBLE, qty BIGINT, ts TIMESTAMP, category INTEGER, score DOUBLE)");
        using (var appender = _connection.CreateAppender("t"))
        {
            foreach (var b in batches)
            {
                var id = CoreData.Int64(b, CoreData.Id);
                var customer = CoreData.Int64(b, CoreData.CustomerId);
                var status = CoreData.Int32(b, CoreData.Status);
                var amount = CoreData.Float64(b, CoreData.Amount);
                var qty = CoreData.Int64(b, CoreData.Qty);
                var ts = CoreData.Int64(b, CoreData.Ts);
                var category = CoreData.Int32(b, CoreData.Category);
                var score = CoreData.Float64(b, CoreData.Score);
                for (var i = 0; i < b.Length; i++)
                {
                    appender.CreateRow()
                        .AppendValue(id[i])
                        .AppendValue(customer[i])
                        .AppendValue(status[i])
                        .AppendValue(amount[i])
                        .AppendValue(qty[i])
                        .AppendValue(DateTime.UnixEpoch.AddTicks(ts[i] * 10))
                        .AppendValue(category[i])
                        .AppendValue(score[i])
                        .EndRow();
                }
            }
        }
        Execute($"SET threads = {threads}");
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = "SELECT current_setting('threads')";
        Threads = Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The <c>threads</c> setting DuckDB reports after <c>SET threads</c>.</summary>
    public int Threads { get; }

    public (long Rows, double Checksum) Run() => Run(Query);

    public (long Rows, double Checksum) Run(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        using var reader = cmd.ExecuteReader();
        if (!reader.Read()) throw new InvalidOperationException("DuckDB returned no row");
        return (reader.GetInt64(0), reader.IsDBNull(1) ? 0 : reader.GetDouble(1));
    }

    private void Execute(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Dispose() => _connection.Dispose();
}

/// <summary>
/// The memory-bandwidth limit: copies the values of all 8 input columns into one preallocated native
/// destination (<see cref="Buffer.MemoryCopy"/>), workers taking whole batches.
/// </summary>
public sealed unsafe class CoreMemcpy : IDisposable
{
    private readonly IReadOnlyList<Batch> _batches;
    private readonly long[] _offsets;
    private byte* _destination;

    public CoreMemcpy(IReadOnlyList<Batch> batches)
    {
        _batches = batches;
        _offsets = new long[batches.Count + 1];
        for (var i = 0; i < batches.Count; i++) _offsets[i + 1] = _offsets[i] + ValueBytes(batches[i]);
        Bytes = _offsets[^1];
        _destination = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(Bytes, 64), 64);
    }

    /// <summary>Bytes copied per run.</summary>
    public long Bytes { get; }

    private static long ValueBytes(Batch b)
    {
        long total = 0;
        for (var c = 0; c < b.Data.ColumnCount; c++) total += b.Column(c).Data.Buffers[1].Length;
        return total;
    }

    public long Run(int parallelism)
    {
        var next = -1;
        var workers = Math.Min(parallelism, Math.Max(_batches.Count, 1));
        void Work()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < _batches.Count)
            {
                var b = _batches[i];
                var at = _destination + _offsets[i];
                for (var c = 0; c < b.Data.ColumnCount; c++)
                {
                    var src = b.Column(c).Data.Buffers[1].Span;
                    fixed (byte* p = src) Buffer.MemoryCopy(p, at, src.Length, src.Length);
                    at += src.Length;
                }
            }
        }
        var threads = new Thread[workers - 1];
        for (var w = 0; w < threads.Length; w++)
        {
            threads[w] = new Thread(Work) { IsBackground = true, Name = $"core-memcpy-{w + 1}" };
            threads[w].Start();
        }
        Work();
        foreach (var t in threads) t.Join();
        return _batches.Sum(b => (long)b.Length);
    }

    public void Dispose()
    {
        if (_destination != null)
        {
            NativeMemory.AlignedFree(_destination);
            _destination = null;
        }
    }
}
