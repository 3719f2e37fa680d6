using System.Globalization;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Kernels;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Expressions;

/// <summary>
/// Evaluates expressions over small batches of the schema (s, t, i, l, d, b, ts, dt, j). Results come back
/// normalized: timestamps as "yyyy-MM-ddTHH:mm:ss.ffffffZ", dates as "yyyy-MM-dd", int32 widened to long,
/// and "ERROR: message" for a row error.
/// </summary>
internal static class ExprHarness
{
    public static readonly Schema Schema = new Schema.Builder()
        .Field(ColumnTypes.Field("s", ColumnKind.String))
        .Field(ColumnTypes.Field("t", ColumnKind.String))
        .Field(ColumnTypes.Field("i", ColumnKind.Int32))
        .Field(ColumnTypes.Field("l", ColumnKind.Int64))
        .Field(ColumnTypes.Field("d", ColumnKind.Float64))
        .Field(ColumnTypes.Field("b", ColumnKind.Bool))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp))
        .Field(ColumnTypes.Field("dt", ColumnKind.Date))
        .Field(ColumnTypes.Field("j", ColumnKind.String))
        .Build();

    public sealed record Row(string? S = null, string? T = null, int? I = null, long? L = null, double? D = null, bool? B = null, string? Ts = null, string? Dt = null, string? J = null);

    public static long ParseTs(string ts) =>
        (DateTimeOffset.Parse(ts, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal).UtcTicks - DateTime.UnixEpoch.Ticks) / 10;

    public static int ParseDate(string dt) => DateOnly.ParseExact(dt, "yyyy-MM-dd", CultureInfo.InvariantCulture).DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;

    public static Batch Build(IReadOnlyList<Row> rows)
    {
        using var b = new BatchBuilder(Schema, Math.Max(rows.Count, 8));
        foreach (var r in rows)
        {
            if (r.S != null) b[0].AppendString(r.S); else b[0].AppendNull();
            if (r.T != null) b[1].AppendString(r.T); else b[1].AppendNull();
            if (r.I is { } i) b[2].AppendInt32(i); else b[2].AppendNull();
            if (r.L is { } l) b[3].AppendInt64(l); else b[3].AppendNull();
            if (r.D is { } d) b[4].AppendDouble(d); else b[4].AppendNull();
            if (r.B is { } bo) b[5].AppendBool(bo); else b[5].AppendNull();
            if (r.Ts != null) b[6].AppendInt64(ParseTs(r.Ts)); else b[6].AppendNull();
            if (r.Dt != null) b[7].AppendInt32(ParseDate(r.Dt)); else b[7].AppendNull();
            if (r.J != null) b[8].AppendString(r.J); else b[8].AppendNull();
        }
        return b.Build();
    }

    public static VExpr Bind(string expr) => new Binder(Schema).Bind(ExprParser.Parse(expr));

    /// <summary>Evaluates over <paramref name="rows"/>, optionally through a selection of some of them.</summary>
    public static List<object?> Eval(string expr, IReadOnlyList<Row> rows, int[]? selection = null)
    {
        using var batch = Build(rows);
        var v = Bind(expr);
        var asm = new BatchAssembler();
        var errors = new RowErrors();
        var n = selection?.Length ?? batch.Length;
        try
        {
            var arr = v.Eval(new EvalContext { Input = batch, Selection = selection, Length = n, Assembler = asm, Errors = errors });
            Assert.Equal(n, arr.Length);
            var kind = ColumnTypes.FromArrow(arr.Data.DataType);
            Assert.Equal(v.Kind, kind);
            return [.. Enumerable.Range(0, n).Select(r => errors.Has(r) ? "ERROR: " + errors.All.First(e => e.Key == r).Value : Normalize(Values.Get(arr, r), kind))];
        }
        finally
        {
            asm.Abandon();
        }
    }

    /// <summary>Evaluates over one row.</summary>
    public static object? One(string expr, Row row) => Eval(expr, [row])[0];

    public static object? Normalize(object? v, ColumnKind kind) => v switch
    {
        null => null,
        long micros when kind == ColumnKind.Timestamp => Values.FormatTimestamp(micros),
        int days when kind == ColumnKind.Date => Values.Format(days, ColumnKind.Date),
        int x => (long)x,
        _ => v,
    };

    /// <summary>Compares with an expected value; "ERROR: text" expects a row error whose message starts with text.</summary>
    public static void AssertValue(object? expected, object? actual)
    {
        if (expected is string e && e.StartsWith("ERROR:", StringComparison.Ordinal))
        {
            Assert.IsType<string>(actual);
            Assert.StartsWith(e, (string)actual!, StringComparison.Ordinal);
        }
        else Assert.Equal(Expect(expected), actual);
    }

    /// <summary>Expected values from InlineData: ints become long.</summary>
    public static object? Expect(object? v) => v is int x ? (long)x : v;
}
