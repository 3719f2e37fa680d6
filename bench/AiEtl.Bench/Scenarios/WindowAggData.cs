using AiEtl.Engine;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Bench.Scenarios;

/// <summary>One <c>window-agg</c> event as an object (the LINQ peer's representation).</summary>
public sealed class WindowEvent
{
    public long K { get; init; }
    /// <summary>Microseconds since the Unix epoch, UTC.</summary>
    public long Ts { get; init; }
    public double Amount { get; init; }
}

/// <summary>
/// The <c>window-agg</c> input: <c>k</c> int64 (100,000 keys, uniform), <c>ts</c> timestamp, <c>amount</c> float64,
/// no nulls, in Arrow batches of 65,536 rows. Event times advance 120 µs per event (500,000 events per
/// minute, so 10M events span 20 one-minute windows) with a jitter of ±1 s, i.e. slightly out of order;
/// the source's <c>max_out_of_orderness</c> of 2 s covers it, so no row is late. <c>amount</c> is a multiple
/// of 1/4 below 2,500: every sum is exact in float64 whatever the order, so sums compare exactly.
/// Every value is a hash of the row number (reproducible).
/// </summary>
public static class WindowAggData
{
    public const int BatchRows = 65_536;
    public const int Keys = 100_000;
    public const long StepMicros = 120;
    public const long JitterMicros = 1_000_000;
    public const long WindowMicros = 60_000_000;
    public static readonly TimeSpan MaxOutOfOrderness = TimeSpan.FromSeconds(2);

    /// <summary>2024-01-01T00:00:00Z in microseconds.</summary>
    public const long TsBase = 1_704_067_200_000_000;

    public const int K = 0, Ts = 1, Amount = 2;

    /// <summary>Bytes of column values per row.</summary>
    public const int BytesPerRow = 24;

    public static readonly Schema Schema = new Schema.Builder()
        .Field(ColumnTypes.Field("k", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp, nullable: false))
        .Field(ColumnTypes.Field("amount", ColumnKind.Float64, nullable: false))
        .Build();

    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    public static List<Batch> Generate(long rows)
    {
        var batches = new List<Batch>((int)((rows + BatchRows - 1) / BatchRows));
        using var b = new BatchBuilder(Schema, BatchRows);
        for (long i = 0; i < rows; i++)
        {
            var h = (ulong)i * 4;
            b[K].AppendInt64((long)(Mix(h) % Keys));
            b[Ts].AppendInt64(TsBase + i * StepMicros + (long)(Mix(h + 1) % (2 * JitterMicros + 1)) - JitterMicros);
            b[Amount].AppendDouble((Mix(h + 2) % 10_000) * 0.25);
            if (b.Length == BatchRows) batches.Add(b.Build());
        }
        if (b.Length > 0) batches.Add(b.Build());
        return batches;
    }

    public static List<WindowEvent> ToEvents(IReadOnlyList<Batch> batches)
    {
        var events = new List<WindowEvent>(batches.Sum(b => b.Length));
        foreach (var b in batches)
        {
            var k = CoreData.Int64(b, K);
            var ts = CoreData.Int64(b, Ts);
            var amount = CoreData.Float64(b, Amount);
            for (var i = 0; i < b.Length; i++) events.Add(new WindowEvent { K = k[i], Ts = ts[i], Amount = amount[i] });
        }
        return events;
    }
}

/// <summary>
/// What every contestant reports: result rows, Σ count, Σ sum (exact), Σ avg (compared to 1e-9 relative:
/// the per-group averages are exact, their sum depends on order) and Σ (key + window index), which
/// pins the set of (key, window) groups.
/// </summary>
public readonly record struct WindowAggResult(long Rows, long Events, double Total, double AvgSum, long KeyWindowSum)
{
    public bool Matches(WindowAggResult o) =>
        Rows == o.Rows && Events == o.Events && Total == o.Total && KeyWindowSum == o.KeyWindowSum &&
        Math.Abs(AvgSum - o.AvgSum) <= 1e-9 * Math.Max(1, Math.Abs(AvgSum));

    public override string ToString() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"rows {Rows:N0}, Σcount {Events:N0}, Σsum {Total:R}, Σavg {AvgSum:R}, Σ(key+window) {KeyWindowSum}");
}
