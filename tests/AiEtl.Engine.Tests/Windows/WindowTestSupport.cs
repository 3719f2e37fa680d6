using System.Globalization;
using System.Numerics;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Windows;

/// <summary>The test input: columns of every kind the aggregates take, all nullable.</summary>
public static class WindowData
{
    public const int K = 0, S = 1, Ts = 2, V = 3, X = 4, D = 5, F = 6, I = 7;

    /// <summary>2023-11-14T22:13:20Z in microseconds.</summary>
    public const long Base = 1_700_000_000_000_000;

    public static Schema InputSchema { get; } = new Schema.Builder()
        .Field(ColumnTypes.Field("k", ColumnKind.Int64))
        .Field(ColumnTypes.Field("s", ColumnKind.String))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp))
        .Field(ColumnTypes.Field("v", ColumnKind.Int64))
        .Field(ColumnTypes.Field("x", ColumnKind.Float64))
        .Field(ColumnTypes.Field("d", ColumnKind.Date))
        .Field(ColumnTypes.Field("f", ColumnKind.Bool))
        .Field(ColumnTypes.Field("i", ColumnKind.Int32))
        .Build();

    private static readonly string[] Strings = ["a", "b", "Zeta", "é", "日本", "😀", "", "a b", "ü", "\u0000x"];

    /// <summary>Every aggregate function over every column kind it takes, some with FILTER.</summary>
    public static IReadOnlyList<AggregateSpec> AllAggregates { get; } =
    [
        new(AggregateFunction.CountStar, -1, "n"),
        new(AggregateFunction.Count, V, "count_v"),
        new(AggregateFunction.Sum, V, "sum_v"),
        new(AggregateFunction.Sum, I, "sum_i"),
        new(AggregateFunction.Sum, X, "sum_x"),
        new(AggregateFunction.Min, V, "min_v"),
        new(AggregateFunction.Max, V, "max_v"),
        new(AggregateFunction.Min, I, "min_i"),
        new(AggregateFunction.Max, X, "max_x"),
        new(AggregateFunction.Min, X, "min_x"),
        new(AggregateFunction.Min, S, "min_s"),
        new(AggregateFunction.Max, S, "max_s"),
        new(AggregateFunction.Min, Ts, "min_ts"),
        new(AggregateFunction.Max, Ts, "max_ts"),
        new(AggregateFunction.Min, D, "min_d"),
        new(AggregateFunction.Max, D, "max_d"),
        new(AggregateFunction.Avg, V, "avg_v"),
        new(AggregateFunction.Avg, X, "avg_x"),
        new(AggregateFunction.Avg, I, "avg_i"),
        new(AggregateFunction.CountDistinct, S, "distinct_s"),
        new(AggregateFunction.CountDistinct, V, "distinct_v"),
        new(AggregateFunction.CountDistinct, X, "distinct_x"),
        new(AggregateFunction.ApproxCountDistinct, V, "approx_v"),
        new(AggregateFunction.ApproxCountDistinct, S, "approx_s"),
        new(AggregateFunction.CountStar, -1, "n_f", F),
        new(AggregateFunction.Sum, X, "sum_x_f", F),
        new(AggregateFunction.Max, I, "max_i_f", F),
        new(AggregateFunction.CountDistinct, S, "distinct_s_f", F),
        new(AggregateFunction.Count, S, "count_s_f", F),
    ];

    /// <summary>Options of <see cref="Generate"/>.</summary>
    public sealed record Shape
    {
        public int Rows { get; init; } = 4000;
        public int Keys { get; init; } = 6;
        /// <summary>Mean distance between consecutive rows' event times.</summary>
        public long StepMicros { get; init; } = 50_000;
        /// <summary>Rows are shifted by up to ± this (out of order).</summary>
        public long JitterMicros { get; init; } = 2_000_000;
        /// <summary>Share of rows shifted far back (late unless the lateness covers it).</summary>
        public double FarBackShare { get; init; } = 0.02;
        public long FarBackMicros { get; init; } = 20_000_000;
        public double NullTimeShare { get; init; } = 0.01;
        public bool NullKeys { get; init; } = true;
        public int MaxBatch { get; init; } = 150;
    }

    /// <summary>Random rows (values are multiples of 1/4 so float sums are exact in any order), cut into batches of random size.</summary>
    public static List<Batch> Generate(int seed, Shape shape)
    {
        var rnd = new Random(seed);
        var batches = new List<Batch>();
        using var b = new BatchBuilder(InputSchema, 256);
        var size = rnd.Next(1, shape.MaxBatch + 1);
        for (var r = 0; r < shape.Rows; r++)
        {
            if (shape.NullKeys && rnd.NextDouble() < 0.06) b[K].AppendNull();
            else b[K].AppendInt64(rnd.Next(shape.Keys) - 2);
            if (shape.NullKeys && rnd.NextDouble() < 0.06) b[S].AppendNull();
            else b[S].AppendString(Strings[rnd.Next(3)]);
            if (rnd.NextDouble() < shape.NullTimeShare) b[Ts].AppendNull();
            else
            {
                var t = Base + r * shape.StepMicros + rnd.NextInt64(-shape.JitterMicros, shape.JitterMicros + 1);
                if (rnd.NextDouble() < shape.FarBackShare) t -= shape.FarBackMicros;
                b[Ts].AppendInt64(t);
            }
            if (rnd.NextDouble() < 0.1) b[V].AppendNull();
            else b[V].AppendInt64(rnd.Next(-1000, 1000));
            if (rnd.NextDouble() < 0.1) b[X].AppendNull();
            else b[X].AppendDouble(rnd.Next(-4000, 4000) * 0.25);
            if (rnd.NextDouble() < 0.1) b[D].AppendNull();
            else b[D].AppendInt32(19_000 + rnd.Next(400));
            if (rnd.NextDouble() < 0.1) b[F].AppendNull();
            else b[F].AppendBool(rnd.Next(2) == 0);
            if (rnd.NextDouble() < 0.1) b[I].AppendNull();
            else b[I].AppendInt32(rnd.Next(int.MinValue / 4, int.MaxValue / 4));
            // Strings of the min/max/distinct aggregates come from the key column s; a second string pool would add little.
            if (b.Length == size)
            {
                batches.Add(b.Build());
                size = rnd.Next(1, shape.MaxBatch + 1);
            }
        }
        if (b.Length > 0) batches.Add(b.Build());
        return batches;
    }

    public static object?[] Row(RecordBatch batch, int row)
    {
        var values = new object?[batch.ColumnCount];
        for (var c = 0; c < values.Length; c++) values[c] = Values.Get(batch.Column(c), row);
        return values;
    }

    /// <summary>A value as the runtime tests' two-phase sink writes it (the generated strings never read "null").</summary>
    public static string Text(object? v) => v switch
    {
        null => "null",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture)!,
    };

    public static string RowText(RecordBatch b, int row) => string.Join("|", Enumerable.Range(0, b.ColumnCount).Select(c => Text(Values.Get(b.Column(c), row))));

    public static void DisposeAll(IEnumerable<Batch> batches)
    {
        foreach (var b in batches) b.Dispose();
    }
}

/// <summary>An operator output that keeps every emitted row as text, grouped by the step that emitted it.</summary>
public sealed class CollectingOutput : IOutput
{
    public List<List<string>> Steps { get; } = [[]];
    public int Batches { get; private set; }

    public void NextStep() => Steps.Add([]);

    public IEnumerable<string> All => Steps.SelectMany(s => s);

    public ValueTask EmitAsync(Batch batch, CancellationToken ct)
    {
        Batches++;
        for (var i = 0; i < batch.Length; i++) Steps[^1].Add(WindowData.RowText(batch.Data, i));
        batch.Dispose();
        return default;
    }
}

/// <summary>What one run of the operator (or the reference) produced.</summary>
public sealed class RunResult
{
    /// <summary>Rows emitted after each batch's watermark (index i), and at the end of the input (last).</summary>
    public required List<List<string>> Steps { get; init; }
    /// <summary>(batch, row) of late rows, in order.</summary>
    public required List<(int Batch, int Row)> Late { get; init; }
    public required List<(int Batch, int Row)> NullTime { get; init; }
    public List<DeadLetter> Letters { get; init; } = [];
    public long LateMetric { get; init; }

    public List<string> StepSorted(int i) => [.. Steps[i].Order(StringComparer.Ordinal)];
}

/// <summary>Drives a <see cref="WindowAggregateOperator"/> directly: batch, watermark, batch, …, end of input.</summary>
public static class Driver
{
    public static OperatorContext Context(IDeadLetterOutput letters, EngineMetrics metrics) => new()
    {
        Task = new TaskInfo { Pipeline = "test", Vertex = "agg", Index = 0, Parallelism = 1 },
        Metrics = metrics,
        DeadLetters = letters,
    };

    /// <summary>Watermark after each batch: max event time so far − <paramref name="outOfOrderness"/>.</summary>
    public static long[] Watermarks(IReadOnlyList<Batch> batches, long outOfOrderness)
    {
        var wms = new long[batches.Count];
        var max = long.MinValue;
        for (var i = 0; i < batches.Count; i++)
        {
            var col = batches[i].Column(WindowData.Ts);
            for (var r = 0; r < col.Length; r++)
                if (Values.Get(col, r) is long t && t > max) max = t;
            wms[i] = max == long.MinValue ? long.MinValue : max - outOfOrderness;
        }
        return wms;
    }

    public static Func<WindowAggregateOperator> Factory(IReadOnlyList<int> keys, WindowSpec spec, IReadOnlyList<AggregateSpec>? aggregates = null) =>
        () => new WindowAggregateOperator(WindowData.InputSchema, keys, spec, aggregates ?? WindowData.AllAggregates);

    /// <summary>
    /// Runs the batches through fresh operators; when <paramref name="restartAfter"/> is set, snapshots after
    /// that batch's watermark, closes the operator and continues in a new one opened from the snapshot.
    /// </summary>
    public static async Task<RunResult> RunAsync(Func<WindowAggregateOperator> create, IReadOnlyList<Batch> batches, long[] watermarks, int? restartAfter = null)
    {
        var ct = TestContext.Current.CancellationToken;
        var letters = new CollectingDeadLetters();
        using var metrics = new EngineMetrics("test");
        long lateMetric = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument, metrics.LateRows)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref lateMetric, value));
        listener.Start();

        var output = new CollectingOutput();
        var op = create();
        await op.OpenAsync(Context(letters, metrics), null, ct);
        var rowOffsets = new List<int>();
        for (var i = 0; i < batches.Count; i++)
        {
            rowOffsets.Add(letters.Letters.Count);
            await op.ProcessAsync(batches[i].Retain(), output, ct);
            await op.OnWatermarkAsync(watermarks[i], output, ct);
            if (restartAfter == i)
            {
                var state = await op.SnapshotAsync(i + 1, ct);
                await op.CloseAsync();
                op = create();
                await op.OpenAsync(Context(letters, metrics), state, ct);
            }
            output.NextStep();
        }
        await op.OnEndOfInputAsync(output, ct);
        await op.CloseAsync();
        listener.RecordObservableInstruments();

        // Map dead letters back to (batch, row) through their position.
        var all = letters.Letters;
        var late = new List<(int, int)>();
        var nulls = new List<(int, int)>();
        for (var i = 0; i < all.Count; i++)
        {
            var batch = rowOffsets.FindLastIndex(o => o <= i);
            if (all[i].ErrorClass == "late") late.Add((batch, (int)all[i].Pos("batch_row")));
            else if (all[i].ErrorClass == "null_event_time") nulls.Add((batch, (int)all[i].Pos("batch_row")));
        }
        return new RunResult { Steps = output.Steps, Late = late, NullTime = nulls, Letters = [.. all], LateMetric = Interlocked.Read(ref lateMetric) };
    }
}

/// <summary>
/// Brute-force reference: rows as boxed values, windows by enumeration, sessions as lists merged on
/// overlap, aggregates with LINQ over each group's member rows.
/// </summary>
public static class Reference
{
    private sealed class Group
    {
        public required object?[] Key { get; init; }
        public required string KeyText { get; init; }
        public long Start;
        public long End;
        public List<object?[]> Rows { get; } = [];
    }

    public static RunResult Run(IReadOnlyList<Batch> batches, long[] watermarks, IReadOnlyList<int> keys, WindowSpec spec, IReadOnlyList<AggregateSpec> aggs)
    {
        var steps = new List<List<string>>();
        var late = new List<(int, int)>();
        var nulls = new List<(int, int)>();
        // Open groups by key text; a key's list holds its windows (or sessions).
        var open = new Dictionary<string, List<Group>>();
        var w = long.MinValue;
        var lateness = spec.AllowedLatenessMicros;
        bool Closed(long end) => w != long.MinValue && end + lateness <= w;
        List<Group> Of(string key) => open.TryGetValue(key, out var l) ? l : open[key] = [];

        for (var b = 0; b < batches.Count; b++)
        {
            var rb = batches[b].Data;
            for (var r = 0; r < rb.Length; r++)
            {
                var row = WindowData.Row(rb, r);
                var key = keys.Select(k => row[k]).ToArray();
                var keyText = KeyText(key);
                var groups = Of(keyText);
                if (spec.Kind == WindowKind.None)
                {
                    if (groups.Count == 0) groups.Add(new Group { Key = key, KeyText = keyText });
                    groups[0].Rows.Add(row);
                    continue;
                }
                if (row[spec.TimeColumn] is not long t)
                {
                    nulls.Add((b, r));
                    continue;
                }
                if (spec.Kind == WindowKind.Session)
                {
                    var end = t + spec.GapMicros;
                    var overlapping = groups.Where(s => s.Start < end && t < s.End).ToList();
                    if (overlapping.Count == 0)
                    {
                        if (Closed(end))
                        {
                            late.Add((b, r));
                            continue;
                        }
                        var s = new Group { Key = key, KeyText = keyText, Start = t, End = end };
                        s.Rows.Add(row);
                        groups.Add(s);
                        continue;
                    }
                    var merged = overlapping[0];
                    foreach (var other in overlapping.Skip(1))
                    {
                        merged.Start = Math.Min(merged.Start, other.Start);
                        merged.End = Math.Max(merged.End, other.End);
                        merged.Rows.AddRange(other.Rows);
                        groups.Remove(other);
                    }
                    merged.Start = Math.Min(merged.Start, t);
                    merged.End = Math.Max(merged.End, end);
                    merged.Rows.Add(row);
                    continue;
                }
                var slide = spec.Kind == WindowKind.Tumble ? spec.SizeMicros : spec.SlideMicros;
                var missed = 0;
                // Every window start that is a multiple of slide with start <= t < start + size.
                for (var start = FloorDiv(t, slide) * slide; start > t - spec.SizeMicros; start -= slide)
                {
                    if (Closed(start + spec.SizeMicros))
                    {
                        missed++;
                        continue;
                    }
                    var g = groups.FirstOrDefault(x => x.Start == start);
                    if (g == null) groups.Add(g = new Group { Key = key, KeyText = keyText, Start = start, End = start + spec.SizeMicros });
                    g.Rows.Add(row);
                }
                if (missed > 0) late.Add((b, r));
            }
            if (watermarks[b] > w) w = watermarks[b];
            var closing = new List<Group>();
            if (w != long.MinValue && spec.Kind != WindowKind.None)
            {
                foreach (var list in open.Values)
                {
                    closing.AddRange(list.Where(g => Closed(g.End)));
                    list.RemoveAll(g => Closed(g.End));
                }
            }
            steps.Add([.. closing.Select(g => Text(g, spec, aggs)).OfType<string>()]);
        }
        var rest = open.Values.SelectMany(l => l).ToList();
        if (spec.Kind == WindowKind.None && keys.Count == 0 && rest.Count == 0) rest.Add(new Group { Key = [], KeyText = "" });
        steps.Add([.. rest.Select(g => Text(g, spec, aggs)).OfType<string>()]);
        return new RunResult { Steps = steps, Late = late, NullTime = nulls };
    }

    private static long FloorDiv(long a, long b) => (long)Math.Floor((decimal)a / b);

    private static string KeyText(object?[] key) => string.Join("\u0002", key.Select(v => v == null ? "\u0001null" : v is string s ? "s" + s : WindowData.Text(v)));

    /// <summary>The output row of a group, or null when an int64 sum overflows (the group is dead-lettered).</summary>
    private static string? Text(Group g, WindowSpec spec, IReadOnlyList<AggregateSpec> aggs)
    {
        var values = new List<object?>(g.Key);
        if (spec.Kind != WindowKind.None)
        {
            values.Add(g.Start);
            values.Add(g.End);
        }
        foreach (var a in aggs)
        {
            var v = Aggregate(a, g.Rows);
            if (v is Overflow) return null;
            values.Add(v);
        }
        return string.Join("|", values.Select(WindowData.Text));
    }

    private sealed class Overflow;

    public static object? Aggregate(AggregateSpec a, List<object?[]> rows)
    {
        var rs = a.FilterColumn >= 0 ? rows.Where(r => r[a.FilterColumn] is true).ToList() : rows;
        if (a.Function == AggregateFunction.CountStar) return (long)rs.Count;
        var vals = rs.Select(r => r[a.InputColumn]).Where(v => v != null).Select(v => v!).ToList();
        switch (a.Function)
        {
            case AggregateFunction.Count:
                return (long)vals.Count;
            case AggregateFunction.CountDistinct or AggregateFunction.ApproxCountDistinct:
                return (long)vals.Select(DistinctKey).Distinct().Count();
            case AggregateFunction.Sum when vals.Count == 0:
            case AggregateFunction.Avg when vals.Count == 0:
            case AggregateFunction.Min when vals.Count == 0:
            case AggregateFunction.Max when vals.Count == 0:
                return null;
            case AggregateFunction.Sum when vals[0] is double:
                return vals.Sum(v => (double)v);
            case AggregateFunction.Sum:
            {
                var s = vals.Aggregate(BigInteger.Zero, (acc, v) => acc + Convert.ToInt64(v, CultureInfo.InvariantCulture));
                return s < long.MinValue || s > long.MaxValue ? new Overflow() : (object)(long)s;
            }
            case AggregateFunction.Avg when vals[0] is double:
                return vals.Sum(v => (double)v) / vals.Count;
            case AggregateFunction.Avg:
                return (double)vals.Aggregate(Int128.Zero, (acc, v) => acc + Convert.ToInt64(v, CultureInfo.InvariantCulture)) / vals.Count;
            case AggregateFunction.Min:
                return vals.Order(ValueComparer.Instance).First();
            case AggregateFunction.Max:
                return vals.Order(ValueComparer.Instance).Last();
            default:
                throw new NotSupportedException(a.Function.ToString());
        }
    }

    private static object DistinctKey(object v) => v switch
    {
        double d when double.IsNaN(d) => double.NaN.ToString(CultureInfo.InvariantCulture),
        double d when d == 0 => 0.0,
        _ => v,
    };

    /// <summary>SQL order of one column's values: strings by UTF-8 bytes, NaN above every number, -0 below +0.</summary>
    private sealed class ValueComparer : IComparer<object>
    {
        public static readonly ValueComparer Instance = new();

        public int Compare(object? x, object? y) => (x, y) switch
        {
            (string a, string b) => Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b)),
            (double a, double b) when double.IsNaN(a) || double.IsNaN(b) => double.IsNaN(a).CompareTo(double.IsNaN(b)),
            (double a, double b) => a.CompareTo(b) != 0 ? a.CompareTo(b) : double.IsNegative(b).CompareTo(double.IsNegative(a)),
            _ => Comparer<object>.Default.Compare(x, y),
        };
    }
}
