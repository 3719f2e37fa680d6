using AiEtl.Engine;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Memory;
using Apache.Arrow;

namespace AiEtl.Bench.Scenarios;

/// <summary>One input row of <c>core</c> as an object (the LINQ and Dataflow peers' representation).</summary>
public sealed class Order
{
    public long Id { get; set; }
    public long CustomerId { get; set; }
    public int Status { get; set; }
    public double Amount { get; set; }
    public long Qty { get; set; }
    /// <summary>Microseconds since the Unix epoch, UTC.</summary>
    public long Ts { get; set; }
    public int Category { get; set; }
    public double Score { get; set; }
}

/// <summary>
/// The <c>core</c> input: deterministic rows (each field a hash of the row number), held as Arrow record
/// batches built with <see cref="BatchBuilder"/>. No nulls. <c>amount</c> is a multiple of 1/4 below
/// 10,000 and <c>qty</c> 1–20, so every <c>amount * qty</c> is a multiple of 1/4 below 200,000 and every
/// partial sum over fewer than ~10^10 rows stays below 2^53 quarters: float64 holds them exactly, the
/// checksum is the same in any summation order, and the peers are compared for exact equality.
/// </summary>
public static class CoreData
{
    public const int BatchRows = 65_536;
    public const int StatusBound = 5;

    /// <summary>2024-01-01T00:00:00Z in microseconds.</summary>
    private const long TsBase = 1_704_067_200_000_000;

    public static readonly Schema Schema = new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("customer_id", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("status", ColumnKind.Int32, nullable: false))
        .Field(ColumnTypes.Field("amount", ColumnKind.Float64, nullable: false))
        .Field(ColumnTypes.Field("qty", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp, nullable: false))
        .Field(ColumnTypes.Field("category", ColumnKind.Int32, nullable: false))
        .Field(ColumnTypes.Field("score", ColumnKind.Float64, nullable: false))
        .Build();

    public const int Id = 0, CustomerId = 1, Status = 2, Amount = 3, Qty = 4, Ts = 5, Category = 6, Score = 7;

    /// <summary>Bytes of column values per row (8 + 8 + 4 + 8 + 8 + 8 + 4 + 8).</summary>
    public const int BytesPerRow = 56;

    private static ulong Mix(ulong x)
    {
        // SplitMix64 finalizer.
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>Builds <paramref name="rows"/> rows in batches of <see cref="BatchRows"/>. The caller disposes them.</summary>
    public static List<Batch> Generate(long rows, BufferPool? pool = null)
    {
        var batches = new List<Batch>((int)((rows + BatchRows - 1) / BatchRows));
        using var builder = new BatchBuilder(Schema, BatchRows, pool);
        for (long i = 0; i < rows; i++)
        {
            var k = (ulong)i * 8;
            builder[Id].AppendInt64(i);
            builder[CustomerId].AppendInt64(1 + (long)(Mix(k + 1) % 1_000_000));
            builder[Status].AppendInt32((int)(Mix(k + 2) % 10));
            builder[Amount].AppendDouble((Mix(k + 3) % 40_000) * 0.25);
            builder[Qty].AppendInt64(1 + (long)(Mix(k + 4) % 20));
            builder[Ts].AppendInt64(TsBase + i * 1_000);
            builder[Category].AppendInt32((int)(Mix(k + 6) % 50));
            builder[Score].AppendDouble((Mix(k + 7) >> 11) * (1.0 / (1UL << 53)));
            if (builder.Length == BatchRows) batches.Add(builder.Build());
        }
        if (builder.Length > 0) batches.Add(builder.Build());
        return batches;
    }

    /// <summary>The same rows as objects, read from the batches (so every peer sees identical data).</summary>
    public static List<Order> ToOrders(IReadOnlyList<Batch> batches)
    {
        long total = 0;
        foreach (var b in batches) total += b.Length;
        var orders = new List<Order>((int)total);
        foreach (var b in batches)
        {
            var id = Int64(b, Id);
            var customer = Int64(b, CustomerId);
            var status = Int32(b, Status);
            var amount = Float64(b, Amount);
            var qty = Int64(b, Qty);
            var ts = Int64(b, Ts);
            var category = Int32(b, Category);
            var score = Float64(b, Score);
            for (var i = 0; i < b.Length; i++)
            {
                orders.Add(new Order
                {
                    Id = id[i],
                    CustomerId = customer[i],
                    Status = status[i],
                    Amount = amount[i],
                    Qty = qty[i],
                    Ts = ts[i],
                    Category = category[i],
                    Score = score[i],
                });
            }
        }
        return orders;
    }

    /// <summary>Int64 values (also timestamps, stored as int64 microseconds) of a column without nulls.</summary>
    public static ReadOnlySpan<long> Int64(Batch b, int column) => b.Column(column) switch
    {
        Int64Array a => NoNulls(a).Values,
        TimestampArray t => NoNulls(t).Values,
        var other => throw new InvalidOperationException($"column {column} is {other.Data.DataType.Name}, expected int64"),
    };

    public static ReadOnlySpan<int> Int32(Batch b, int column) => NoNulls((Int32Array)b.Column(column)).Values;

    public static ReadOnlySpan<double> Float64(Batch b, int column) => NoNulls((DoubleArray)b.Column(column)).Values;

    private static T NoNulls<T>(T array) where T : IArrowArray =>
        array.NullCount == 0 ? array : throw new NotSupportedException("the core scenario's hand kernel expects columns without nulls");
}
