using AiEtl.Engine.Columns;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Tests.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Expressions;

public sealed class ExpressionTests
{
    private static readonly Schema S = new Schema.Builder()
        .Field(ColumnTypes.Field("i", ColumnKind.Int32))
        .Field(ColumnTypes.Field("l", ColumnKind.Int64))
        .Field(ColumnTypes.Field("d", ColumnKind.Float64))
        .Field(ColumnTypes.Field("s", ColumnKind.String))
        .Field(ColumnTypes.Field("b", ColumnKind.Bool))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp))
        .Build();

    // Rows: (i, l, d, s, b, ts) — row 2 is all NULL.
    private static Batch Data()
    {
        using var b = new BatchBuilder(S, 8);
        void Row(int? i, long? l, double? d, string? s, bool? bo, long? ts)
        {
            if (i is { } x) b[0].AppendInt32(x); else b[0].AppendNull();
            if (l is { } y) b[1].AppendInt64(y); else b[1].AppendNull();
            if (d is { } z) b[2].AppendDouble(z); else b[2].AppendNull();
            if (s != null) b[3].AppendString(s); else b[3].AppendNull();
            if (bo is { } w) b[4].AppendBool(w); else b[4].AppendNull();
            if (ts is { } t) b[5].AppendInt64(t); else b[5].AppendNull();
        }
        Row(1, 10, 1.5, "Ab", true, 0);
        Row(-7, long.MaxValue, -2.25, "éX", false, 1_700_000_000_000_000);
        Row(null, null, null, null, null, null);
        Row(2147483647, -3, 0, "", true, 86_400_000_000);
        return b.Build();
    }

    private static List<object?> Eval(string expr, Batch? batch = null)
    {
        var data = batch ?? Data();
        var v = new Binder(S).Bind(ExprParser.Parse(expr));
        var asm = new BatchAssembler();
        var errors = new RowErrors();
        var arr = v.Eval(new EvalContext { Input = data, Length = data.Length, Assembler = asm, Errors = errors });
        var result = Enumerable.Range(0, data.Length).Select(r => errors.Has(r) ? "ERROR" : Values.Get(arr, r)).ToList();
        asm.Abandon();
        return result;
    }

    [Theory]
    [InlineData("i + 1", new object?[] { 2, -6, null, "ERROR" })]
    [InlineData("l * 2", new object?[] { 20L, "ERROR", null, -6L })]
    [InlineData("l - 1", new object?[] { 9L, long.MaxValue - 1, null, -4L })]
    [InlineData("i / 2", new object?[] { 0, -3, null, 1073741823 })]
    [InlineData("i % 3", new object?[] { 1, -1, null, 1 })]
    [InlineData("l / 0", new object?[] { "ERROR", "ERROR", null, "ERROR" })]
    [InlineData("d * 2", new object?[] { 3.0, -4.5, null, 0.0 })]
    [InlineData("i + d", new object?[] { 2.5, -9.25, null, 2147483647.0 })]
    [InlineData("-i", new object?[] { -1, 7, null, -2147483647 })]
    public void Arithmetic_follows_postgres_types_nulls_and_overflow(string expr, object?[] expected) =>
        Assert.Equal(expected.Select(Normalize), Eval(expr).Select(Normalize));

    [Theory]
    [InlineData("i < 5", new object?[] { true, true, null, false })]
    [InlineData("5 > i", new object?[] { true, true, null, false })]
    [InlineData("l >= 10", new object?[] { true, true, null, false })]
    [InlineData("d <> 0", new object?[] { true, true, null, false })]
    [InlineData("s = 'Ab'", new object?[] { true, false, null, false })]
    [InlineData("s < 'B'", new object?[] { true, false, null, true })]
    [InlineData("ts >= '2000-01-01T00:00:00Z'", new object?[] { false, true, null, false })]
    [InlineData("b = TRUE", new object?[] { true, false, null, true })]
    public void Comparisons_return_null_for_null_operands(string expr, object?[] expected) =>
        Assert.Equal(expected, Eval(expr));

    [Theory]
    [InlineData("b AND i > 0", new object?[] { true, false, null, true })]
    [InlineData("NULL AND FALSE", new object?[] { false, false, false, false })]
    [InlineData("NULL OR TRUE", new object?[] { true, true, true, true })]
    [InlineData("b OR i > 100", new object?[] { true, false, null, true })]
    [InlineData("NOT b", new object?[] { false, true, null, false })]
    [InlineData("s IS NULL", new object?[] { false, false, true, false })]
    [InlineData("s IS NOT NULL", new object?[] { true, true, false, true })]
    [InlineData("s IS DISTINCT FROM 'Ab'", new object?[] { false, true, true, true })]
    [InlineData("s IS NOT DISTINCT FROM NULL", new object?[] { false, false, true, false })]
    [InlineData("i IS DISTINCT FROM NULL", new object?[] { true, true, false, true })]
    [InlineData("b IS NOT DISTINCT FROM TRUE", new object?[] { true, false, false, true })]
    [InlineData("NOT i IS DISTINCT FROM 1", new object?[] { true, false, false, false })]
    public void Boolean_logic_is_three_valued(string expr, object?[] expected) =>
        Assert.Equal(expected, Eval(expr));

    [Theory]
    [InlineData("CAST(d AS int64)", new object?[] { 2L, -2L, null, 0L })]
    [InlineData("CAST(i AS string)", new object?[] { "1", "-7", null, "2147483647" })]
    [InlineData("CAST(s AS int64)", new object?[] { "ERROR", "ERROR", null, "ERROR" })]
    [InlineData("CAST(l AS int32)", new object?[] { 10, "ERROR", null, -3 })]
    [InlineData("CAST(ts AS string)", new object?[] { "1970-01-01T00:00:00.000000Z", "2023-11-14T22:13:20.000000Z", null, "1970-01-02T00:00:00.000000Z" })]
    [InlineData("upper(s)", new object?[] { "AB", "ÉX", null, "" })]
    [InlineData("length(s)", new object?[] { 2, 2, null, 0 })]
    [InlineData("coalesce(l, 0)", new object?[] { 10L, long.MaxValue, 0L, -3L })]
    [InlineData("s || '!'", new object?[] { "Ab!", "éX!", null, "!" })]
    [InlineData("abs(i)", new object?[] { 1, 7, null, 2147483647 })]
    public void Casts_and_functions(string expr, object?[] expected) =>
        Assert.Equal(expected.Select(Normalize), Eval(expr).Select(Normalize));

    private static object? Normalize(object? o) => o is double d ? Math.Round(d, 9) : o;

    [Theory]
    [InlineData("i +", "expected an expression", 3)]
    [InlineData("nosuch > 1", "unknown column 'nosuch'", 0)]
    [InlineData("s_ > 1", "did you mean 's'", 0)]
    [InlineData("s + 1", "needs numbers", 2)]
    [InlineData("i AND b", "must be boolean", 0)]
    [InlineData("'abc", "unterminated string", 0)]
    [InlineData("foo(1)", "unknown function 'foo'", 0)]
    [InlineData("CAST(i AS money)", "unknown type 'money'", 10)]
    [InlineData("ts > 'yesterday'", "not a valid timestamp", 5)]
    [InlineData("(i > 1", "expected ')'", 6)]
    [InlineData("i IS DISTINCT 1", "expected FROM after IS DISTINCT", 14)]
    [InlineData("i IS TRUE", "expected NULL, NOT NULL, DISTINCT FROM or NOT DISTINCT FROM after IS", 5)]
    [InlineData("s IS DISTINCT FROM 1", "cannot compare string with", 2)]
    [InlineData("ts + INTERVAL '1.5' YEAR", "needs a whole number", 14)]
    [InlineData("ts + INTERVAL '1-13' YEAR TO MONTH", "as YEAR TO MONTH", 14)]
    [InlineData("ts + INTERVAL '1' YEAR TO DAY", "only YEAR TO MONTH", 26)]
    [InlineData("ts + INTERVAL '1 fortnight'", "unknown interval unit 'fortnight'", 14)]
    [InlineData("INTERVAL '1' MONTH * 1.5", "can only be multiplied by an integer", 19)]
    [InlineData("INTERVAL '1 month 2 days' / 2", "can only be multiplied by an integer", 26)]
    public void Errors_name_the_problem_and_its_position(string expr, string message, int position)
    {
        var e = Assert.Throws<ExpressionException>(() => new Binder(S).Bind(ExprParser.Parse(expr)));
        Assert.Contains(message, e.Message);
        Assert.Equal(position, e.Position);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Deeply_nested_is_distinct_from_binds_to_a_tree_linear_in_its_text(bool negated)
    {
        // Chained left to right: ((b IS [NOT] DISTINCT FROM b) IS [NOT] DISTINCT FROM b) …, 500 deep, bool with bool at each step.
        const int depth = 500;
        var op = negated ? " IS NOT DISTINCT FROM b" : " IS DISTINCT FROM b";
        var text = "b" + string.Concat(Enumerable.Repeat(op, depth));
        var bound = new Binder(S).Bind(ExprParser.Parse(text));
        Assert.Equal(ColumnKind.Bool, bound.Kind);
        // Each operand is named once: the plan's text grows with the query's, not exponentially.
        Assert.Equal(depth + 1, System.Text.RegularExpressions.Regex.Count(bound.Describe(), @"\bb\b"));
        bool?[] b = [true, false, null, true];
        var expected = b.Select(v =>
        {
            var x = v;
            for (var k = 0; k < depth; k++) x = negated ? Equals(x, v) : !Equals(x, v);
            return (object?)x;
        }).ToList();
        Assert.Equal(expected, Eval(text));
        // Nested to the right through parentheses as well: b IS DISTINCT FROM (b IS DISTINCT FROM (…)).
        const int right = 200;
        var nested = string.Concat(Enumerable.Repeat("b" + op[..^1] + "(", right)) + "b" + new string(')', right);
        var expectedRight = b.Select(v =>
        {
            var x = v;
            for (var k = 0; k < right; k++) x = negated ? Equals(v, x) : !Equals(v, x);
            return (object?)x;
        }).ToList();
        Assert.Equal(expectedRight, Eval(nested));
    }

    [Theory]
    // Months first, with the day clamped to the month's end, then the fixed part (PostgreSQL's order).
    [InlineData("ts + INTERVAL '1' MONTH", new object?[] { 2_678_400_000_000L, 1_702_592_000_000_000L, null, 2_764_800_000_000L })]
    [InlineData("ts + INTERVAL '1 month 1 hour'", new object?[] { 2_682_000_000_000L, 1_702_595_600_000_000L, null, 2_768_400_000_000L })]
    [InlineData("ts - INTERVAL '1-1' YEAR TO MONTH", new object?[] { -34_214_400_000_000L, 1_665_785_600_000_000L, null, -34_128_000_000_000L })]
    [InlineData("ts + INTERVAL '9000' YEAR", new object?[] { "ERROR", "ERROR", null, "ERROR" })]
    [InlineData("ts + i * INTERVAL '1' MONTH", new object?[] { 2_678_400_000_000L, 1_681_510_400_000_000L, null, "ERROR" })]
    [InlineData("extract(epoch FROM INTERVAL '1 year 1 month 1 second')", new object?[] { 34_149_601.0, 34_149_601.0, 34_149_601.0, 34_149_601.0 })]
    [InlineData("INTERVAL '1' MONTH = INTERVAL '30 days'", new object?[] { true, true, true, true })]
    [InlineData("-INTERVAL '1' MONTH + ts", new object?[] { -2_678_400_000_000L, 1_697_321_600_000_000L, null, -2_592_000_000_000L })]
    public void Month_intervals_follow_the_calendar(string expr, object?[] expected) =>
        Assert.Equal(expected, Eval(expr).Select(v => v is DateTime dt ? (dt.Ticks - DateTime.UnixEpoch.Ticks) / 10 : v));

    [Theory]
    [InlineData("d IS NOT DISTINCT FROM d", new object?[] { true, true, true, true })]
    [InlineData("d IS DISTINCT FROM 0", new object?[] { true, true, true, false })]
    [InlineData("ts IS NOT DISTINCT FROM ts", new object?[] { true, true, true, true })]
    [InlineData("l IS DISTINCT FROM i", new object?[] { true, true, false, true })]
    [InlineData("ts IS DISTINCT FROM '1970-01-02T00:00:00Z'", new object?[] { true, true, true, false })]
    [InlineData("NULL IS NOT DISTINCT FROM NULL", new object?[] { true, true, true, true })]
    [InlineData("upper(s) IS NOT DISTINCT FROM s", new object?[] { false, false, true, true })]
    public void Is_distinct_from_covers_every_comparable_kind(string expr, object?[] expected) =>
        Assert.Equal(expected, Eval(expr));

    [Fact]
    public async Task Filter_project_sends_rows_that_fail_to_the_dead_letter_output()
    {
        var dl = new ListDeadLetters();
        var binder = new Binder(S);
        var op = new FilterProjectOperator(S, binder.Bind(ExprParser.Parse("i IS NOT NULL")), [("x", binder.Bind(ExprParser.Parse("l * 2")))]);
        await op.OpenAsync(new AiEtl.Engine.Runtime.OperatorContext
        {
            Task = new AiEtl.Engine.Runtime.TaskInfo { Pipeline = "p", Vertex = "v", Index = 0, Parallelism = 1 },
            Metrics = new AiEtl.Engine.Runtime.EngineMetrics("p"),
            DeadLetters = dl,
        }, null, TestContext.Current.CancellationToken);
        using var input = Data();
        using var output = op.Apply(input)!;
        Assert.Equal(2, output.Length);
        Assert.Equal([20L, -6L], new[] { 0, 1 }.Select(r => Values.Get(output.Column(0), r)));
        var letter = Assert.Single(dl.Letters);
        Assert.Equal("overflow", letter.ErrorClass);
        Assert.Contains("out of range", letter.Error);
        Assert.Contains("\"l\":9223372036854775807", System.Text.Encoding.UTF8.GetString(letter.Raw.Span));
    }

    [Fact]
    public void Random_expressions_never_crash_the_parser_or_binder()
    {
        var rnd = new Random(7);
        string[] atoms = ["i", "l", "d", "s", "b", "ts", "1", "2.5", "'x'", "NULL", "TRUE", "(", ")", "+", "-", "*", "/", "AND", "OR", "NOT", "<", "=", "IS", "CAST(", "AS", "int64", ",", "upper(", "'", "\"", "||"];
        for (var n = 0; n < 20_000; n++)
        {
            var text = string.Join(' ', Enumerable.Range(0, rnd.Next(1, 9)).Select(_ => atoms[rnd.Next(atoms.Length)]));
            try
            {
                new Binder(S).Bind(ExprParser.Parse(text));
            }
            catch (ExpressionException e)
            {
                Assert.InRange(e.Position, 0, text.Length);
            }
        }
    }
}
