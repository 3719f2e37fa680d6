using AiEtl.Engine.Columns;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Tests.Runtime;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Expressions;

/// <summary>
/// The filter + project operator's kernels (constant comparisons straight into a selection vector, arithmetic
/// fused with the gather) against the general boolean-column path and against SQL semantics row by row.
/// </summary>
public sealed class FilterProjectKernelTests
{
    private static readonly Schema S = new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64))
        .Field(ColumnTypes.Field("i", ColumnKind.Int32))
        .Field(ColumnTypes.Field("l", ColumnKind.Int64))
        .Field(ColumnTypes.Field("d", ColumnKind.Float64))
        .Field(ColumnTypes.Field("j", ColumnKind.Int32))
        .Field(ColumnTypes.Field("m", ColumnKind.Int64))
        .Field(ColumnTypes.Field("e", ColumnKind.Float64))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp))
        .Field(ColumnTypes.Field("dt", ColumnKind.Date))
        .Field(ColumnTypes.Field("s", ColumnKind.String))
        .Build();

    private const long Jan2024 = 1_704_067_200_000_000;

    /// <summary>
    /// 701 rows (not a multiple of any vector width), about 1 in 8 values NULL. <paramref name="edges"/> mixes in
    /// values that overflow or divide by zero (and NaN / infinities); otherwise every operation is safe.
    /// </summary>
    private static Batch Data(int seed, bool edges, int rows = 701)
    {
        var rnd = new Random(seed);
        object? Maybe(object v) => rnd.Next(8) == 0 ? null : v;
        object Int() => edges && rnd.Next(6) == 0 ? rnd.Next(3) switch { 0 => int.MaxValue, 1 => int.MinValue, _ => 0 } : rnd.Next(-9, 10) | 1;
        object Long() => edges && rnd.Next(6) == 0 ? rnd.Next(4) switch { 0 => long.MaxValue, 1 => long.MinValue, 2 => 3_037_000_500L, _ => 0L } : (long)(rnd.Next(-9, 10) | 1);
        object Double() => edges && rnd.Next(6) == 0 ? rnd.Next(5) switch { 0 => 1e308, 1 => -1e308, 2 => 0.0, 3 => double.NaN, _ => double.PositiveInfinity } : (rnd.Next(-40, 40) | 1) * 0.25;
        var data = Enumerable.Range(0, rows).Select(r => new object?[]
        {
            (long)r, Maybe(Int()), Maybe(Long()), Maybe(Double()), Maybe(Int()), Maybe(Long()), Maybe(Double()),
            Maybe(Jan2024 + rnd.Next(-5, 5) * 86_400_000_000L), Maybe(19_723 + rnd.Next(-5, 5)), Maybe("s" + rnd.Next(4)),
        }).ToArray();
        return Batches.Make(S, data);
    }

    private static FilterProjectOperator Op(string filter, params string[] select)
    {
        var binder = new Binder(S);
        var pred = filter.Length == 0 ? null : binder.Bind(ExprParser.Parse(filter));
        var proj = select.Length == 0 ? null : select.Select(ExprParser.ParseNamed).Select(n => (n.Alias ?? ((ColumnRef)n.Expr).Name, binder.Bind(n.Expr))).ToList();
        return new FilterProjectOperator(S, pred, proj);
    }

    private static async Task<(List<object?[]> Rows, ListDeadLetters Letters)> Run(FilterProjectOperator op, Batch input)
    {
        var letters = new ListDeadLetters();
        await op.OpenAsync(new OperatorContext
        {
            Task = new TaskInfo { Pipeline = "p", Vertex = "v", Index = 0, Parallelism = 1 },
            Metrics = new EngineMetrics("p"),
            DeadLetters = letters,
        }, null, TestContext.Current.CancellationToken);
        using var output = op.Apply(input);
        var rows = output == null ? [] : Batches.Rows(output);
        await op.CloseAsync();
        return (rows, letters);
    }

    [Theory]
    [InlineData("i < 5", true)]
    [InlineData("5 > i", true)]
    [InlineData("i >= -2 AND l <> 0 AND d <= 1.5", true)]
    [InlineData("ts >= '2024-01-01T00:00:00Z' AND dt = '2024-01-02'", true)]
    [InlineData("e = 0.5 AND (m > 1 AND j < 0)", true)]
    [InlineData("i < 5 OR l > 0", false)]
    [InlineData("i < j", false)]
    [InlineData("s = 's1'", false)]
    [InlineData("i < 5 AND s = 's1'", false)]
    [InlineData("l < 2.5", false)]
    [InlineData("NOT i < 5", false)]
    public void Constant_comparisons_joined_by_and_take_the_selection_kernel_path(string filter, bool kernels) =>
        Assert.Equal(kernels, Op(filter).UsesSelectionKernels);

    [Theory]
    [InlineData("i < 3")]
    [InlineData("3 > i")]
    [InlineData("i <> 1")]
    [InlineData("i = -3")]
    [InlineData("l >= 1")]
    [InlineData("l <= -1 AND i > -5")]
    [InlineData("d > 0.5")]
    [InlineData("d <= 0")]
    [InlineData("d <> 0.25 AND e >= -1 AND m < 5")]
    [InlineData("ts > '2024-01-01T00:00:00Z'")]
    [InlineData("dt <= '2024-01-01'")]
    [InlineData("dt = '2024-01-02' AND ts <> '2023-12-30T00:00:00Z'")]
    public async Task Selection_kernels_keep_the_same_rows_as_the_boolean_path(string filter)
    {
        foreach (var edges in new[] { false, true })
        {
            using var input = Data(filter.Length, edges);
            var fast = Op(filter);
            var general = Op($"({filter}) OR FALSE");
            Assert.True(fast.UsesSelectionKernels);
            Assert.False(general.UsesSelectionKernels);
            var (expected, _) = await Run(general, input);
            var (actual, _) = await Run(fast, input);
            Assert.Equal(Batches.Show(expected), Batches.Show(actual));
            // NULL never passes: every kept row has a value in each filtered column.
            Assert.NotEmpty(actual);
        }
    }

    [Fact]
    public async Task A_filter_that_no_row_passes_emits_nothing()
    {
        using var input = Data(1, edges: false);
        var (rows, _) = await Run(Op("i > 100", "id"), input);
        Assert.Empty(rows);
    }

    public static TheoryData<string, string, bool> Arithmetic()
    {
        var d = new TheoryData<string, string, bool>();
        foreach (var pair in new[] { "l,m", "i,j", "i,m", "l,i", "d,l", "e,d", "j,e", "d,i" })
            foreach (var op in new[] { "+", "-", "*", "/", "%" })
                foreach (var edges in new[] { false, true })
                    d.Add(pair, op, edges);
        return d;
    }

    /// <summary>
    /// <c>SELECT id, x op y WHERE i &gt;= 0</c> (so the projection runs under a selection, fused) against SQL
    /// semantics row by row: NULL in → NULL out; integer overflow and division by zero → dead letter;
    /// float64 division by zero or overflow of finite operands → dead letter.
    /// </summary>
    [Theory]
    [MemberData(nameof(Arithmetic))]
    public async Task Arithmetic_under_a_selection_follows_sql_semantics_row_by_row(string pair, string op, bool edges)
    {
        var names = pair.Split(',');
        using var input = Data(pair.GetHashCode(StringComparison.Ordinal) ^ op[0], edges);
        var (rows, letters) = await Run(Op("i >= 0", "id", $"{names[0]} {op} {names[1]} AS r"), input);

        var xi = S.GetFieldIndex(names[0]);
        var yi = S.GetFieldIndex(names[1]);
        var kinds = new[] { ColumnTypes.FromArrow(S.FieldsList[xi].DataType), ColumnTypes.FromArrow(S.FieldsList[yi].DataType) };
        var kind = kinds.Contains(ColumnKind.Float64) ? ColumnKind.Float64 : kinds.Contains(ColumnKind.Int64) ? ColumnKind.Int64 : ColumnKind.Int32;
        var expected = new List<string>();
        var errors = 0;
        foreach (var row in Batches.Rows(input))
        {
            if (row[1] is not int i || i < 0) continue;
            var (error, value) = Reference(op, kind, row[xi], row[yi]);
            if (error) errors++;
            else expected.Add(Batches.Show([[row[0], value]]));
        }
        Assert.Equal(string.Join("\n", expected), Batches.Show(rows));
        Assert.Equal(errors, letters.Letters.Count);
        Assert.All(letters.Letters, l => Assert.Matches("out of range|division by zero", l.Error));
        if (!edges) Assert.Equal(0, errors);
    }

    private static (bool Error, object? Value) Reference(string op, ColumnKind kind, object? x, object? y)
    {
        if (x == null || y == null) return (false, null);
        if (kind == ColumnKind.Float64)
        {
            double a = Convert.ToDouble(x), b = Convert.ToDouble(y);
            if (op is "/" or "%" && b == 0) return (true, null);
            var r = op switch { "+" => a + b, "-" => a - b, "*" => a * b, "/" => a / b, _ => a % b };
            return !double.IsFinite(r) && double.IsFinite(a) && double.IsFinite(b) ? (true, null) : (false, r);
        }
        Int128 p = Convert.ToInt64(x), q = Convert.ToInt64(y);
        if (op is "/" or "%" && q == 0) return (true, null);
        var v = op switch { "+" => p + q, "-" => p - q, "*" => p * q, "/" => p / q, _ => p % q };
        if (kind == ColumnKind.Int32) return v < int.MinValue || v > int.MaxValue ? (true, null) : (false, (int)v);
        return v < long.MinValue || v > long.MaxValue ? (true, null) : (false, (long)v);
    }

    [Fact]
    public async Task Reused_operator_state_does_not_leak_between_batches()
    {
        var op = Op("i > -5 AND d < 5", "id", "l * m AS p", "d + e AS q");
        var reference = Op("(i > -5 AND d < 5) OR FALSE", "id", "l * m AS p", "d + e AS q");
        for (var k = 0; k < 5; k++)
        {
            // Batches of different sizes and contents through the same instance.
            using var input = Data(100 + k, edges: k % 2 == 1, rows: 50 + k * 300);
            var (a, la) = await Run(op, input);
            var (b, lb) = await Run(reference, input);
            Assert.Equal(Batches.Show(b), Batches.Show(a));
            Assert.Equal(lb.Letters.Count, la.Letters.Count);
        }
    }
}
