using AiEtl.Engine.Expressions;
using static AiEtl.Engine.Tests.Expressions.ExprHarness;

namespace AiEtl.Engine.Tests.Expressions;

/// <summary>CASE, COALESCE, NULLIF, IN, BETWEEN, casts and operator precedence (hand-checked against PostgreSQL 15).</summary>
public sealed class ConditionalTests
{
    // Rows: i = 1, 0, NULL, -5; l = 10, 0, NULL, long.MaxValue; s = 'a', 'b', NULL, 'c'
    private static readonly Row[] Rows =
    [
        new(S: "a", T: "x", I: 1, L: 10, D: 1.5, B: true, Ts: "2024-01-01T00:00:00Z", Dt: "2024-01-01"),
        new(S: "b", T: null, I: 0, L: 0, D: 2.5, B: false, Ts: "2024-06-01T00:00:00Z", Dt: "2024-06-01"),
        new(),
        new(S: "c", T: "z", I: -5, L: long.MaxValue, D: -0.5, B: null, Ts: "2023-12-31T23:59:59Z", Dt: "1999-12-31"),
    ];

    [Theory]
    [InlineData("CASE WHEN i > 0 THEN 'pos' WHEN i = 0 THEN 'zero' ELSE 'neg' END", new object?[] { "pos", "zero", "neg", "neg" })]
    [InlineData("CASE WHEN i > 0 THEN 'pos' END", new object?[] { "pos", null, null, null })]
    [InlineData("CASE i WHEN 1 THEN 'one' WHEN 0 THEN 'zero' END", new object?[] { "one", "zero", null, null })]
    [InlineData("CASE s WHEN 'a' THEN 1 WHEN 'c' THEN 2.5 ELSE 0 END", new object?[] { 1.0, 0.0, 0.0, 2.5 })]
    [InlineData("CASE WHEN b THEN i ELSE l END", new object?[] { 1L, 0L, null, long.MaxValue })]
    [InlineData("CASE WHEN i = 0 THEN 0 ELSE 100 / i END", new object?[] { 100L, 0L, null, -20L })]
    [InlineData("CASE WHEN l > 0 THEN l + 1 ELSE 0 END", new object?[] { 11L, 0L, 0L, "ERROR: bigint out of range" })]
    [InlineData("CASE WHEN b THEN NULL ELSE s END", new object?[] { null, "b", null, "c" })]
    [InlineData("CASE WHEN i IS NULL THEN '2000-01-01' ELSE ts END", new object?[] { "2024-01-01T00:00:00.000000Z", "2024-06-01T00:00:00.000000Z", "2000-01-01T00:00:00.000000Z", "2023-12-31T23:59:59.000000Z" })]
    [InlineData("CASE WHEN b THEN dt ELSE ts END", new object?[] { "2024-01-01T00:00:00.000000Z", "2024-06-01T00:00:00.000000Z", null, "2023-12-31T23:59:59.000000Z" })]
    [InlineData("CASE WHEN b THEN TRUE ELSE NULL END", new object?[] { true, null, null, null })]
    [InlineData("coalesce(t, s, 'none')", new object?[] { "x", "b", "none", "z" })]
    [InlineData("coalesce(i, l)", new object?[] { 1L, 0L, null, -5L })]
    [InlineData("coalesce(NULL, i, 7)", new object?[] { 1L, 0L, 7L, -5L })]
    [InlineData("coalesce(d, i)", new object?[] { 1.5, 2.5, null, -0.5 })]
    [InlineData("coalesce(i, 10 / i)", new object?[] { 1L, 0L, null, -5L })]
    [InlineData("coalesce(t, s || '!')", new object?[] { "x", "b!", null, "z" })]
    [InlineData("nullif(i, 0)", new object?[] { 1L, null, null, -5L })]
    [InlineData("nullif(s, 'b')", new object?[] { "a", null, null, "c" })]
    [InlineData("nullif(i, 1.5)", new object?[] { 1.0, 0.0, null, -5.0 })]
    [InlineData("100 / nullif(i, 0)", new object?[] { 100L, null, null, -20L })]
    [InlineData("i IN (1, 2)", new object?[] { true, false, null, false })]
    [InlineData("i IN (1, NULL)", new object?[] { true, null, null, null })]
    [InlineData("i NOT IN (1, 2)", new object?[] { false, true, null, true })]
    [InlineData("i NOT IN (1, NULL)", new object?[] { false, null, null, null })]
    [InlineData("i IN (0, 2.5)", new object?[] { false, true, null, false })]
    [InlineData("s IN ('a', 'c', 'd', 'e', 'f', 'g')", new object?[] { true, false, null, true })]
    [InlineData("s IN (t, 'b')", new object?[] { false, true, null, false })]
    [InlineData("i IN (l, 0)", new object?[] { false, true, null, false })]
    [InlineData("ts IN ('2024-01-01T00:00:00Z')", new object?[] { true, false, null, false })]
    [InlineData("dt IN ('1999-12-31', '2024-06-01')", new object?[] { false, true, null, true })]
    [InlineData("b IN (TRUE)", new object?[] { true, false, null, null })]
    [InlineData("i BETWEEN 0 AND 1", new object?[] { true, true, null, false })]
    [InlineData("i NOT BETWEEN 0 AND 1", new object?[] { false, false, null, true })]
    [InlineData("i BETWEEN 1 AND 0", new object?[] { false, false, null, false })]
    [InlineData("i BETWEEN NULL AND 0", new object?[] { false, null, null, null })]
    [InlineData("s BETWEEN 'a' AND 'b'", new object?[] { true, true, null, false })]
    [InlineData("ts BETWEEN '2024-01-01' AND '2024-12-31'", new object?[] { true, true, null, false })]
    [InlineData("i + 1 BETWEEN 1 AND 2 AND b", new object?[] { true, false, null, false })]
    [InlineData("i::bigint * 2", new object?[] { 2L, 0L, null, -10L })]
    [InlineData("d::int", new object?[] { 2L, 2L, null, 0L })]
    [InlineData("d::bigint", new object?[] { 2L, 2L, null, 0L })]
    [InlineData("(d + 1)::int", new object?[] { 2L, 4L, null, 0L })]
    [InlineData("i::text || s", new object?[] { "1a", "0b", null, "-5c" })]
    [InlineData("d::string", new object?[] { "1.5", "2.5", null, "-0.5" })]
    [InlineData("CAST(s AS int)", new object?[] { "ERROR: cannot cast a to int32", "ERROR: cannot cast b", null, "ERROR: cannot cast c" })]
    [InlineData("l::double precision / 4", new object?[] { 2.5, 0.0, null, 2.305843009213694E+18 })]
    [InlineData("-i::bigint", new object?[] { -1L, 0L, null, 5L })]
    [InlineData("NOT i IN (1)", new object?[] { false, true, null, true })]
    [InlineData("s IS NULL OR i IN (0)", new object?[] { false, true, true, false })]
    public void Conditional_expressions(string expr, object?[] expected)
    {
        var actual = Eval(expr, Rows);
        Assert.Equal(expected.Length, actual.Count);
        for (var r = 0; r < expected.Length; r++) AssertValue(expected[r], actual[r]);
    }

    [Theory]
    [InlineData("CASE WHEN i = 0 THEN 0 ELSE 100 / i END")]
    [InlineData("coalesce(s, 'z') || upper(s)")]
    [InlineData("CASE WHEN b THEN s WHEN i < 0 THEN t END")]
    [InlineData("i IN (1, -5)")]
    [InlineData("nullif(s, 'b')")]
    public void A_selection_gives_the_same_rows_as_evaluating_everything(string expr)
    {
        var all = Eval(expr, Rows);
        var picked = Eval(expr, Rows, selection: [3, 0, 2]);
        Assert.Equal(new[] { all[3], all[0], all[2] }, picked);
    }

    [Fact]
    public void Case_branches_run_only_on_their_rows()
    {
        // 100 / i divides by zero only on row 1, which takes the first branch: no error anywhere.
        var r = Eval("CASE WHEN i = 0 THEN -1 WHEN i IS NULL THEN -2 ELSE 100 / i END", Rows);
        Assert.Equal(new object?[] { 100L, -1L, -2L, -20L }, r);
        var describe = Bind("CASE WHEN i = 0 THEN -1 ELSE 100 / i END").Describe();
        Assert.Equal("CASE WHEN (i = 0) THEN -1 ELSE (100 / i) END", describe);
    }

    [Fact]
    public void In_lists_larger_than_the_linear_probe_use_the_hash_set()
    {
        var items = string.Join(", ", Enumerable.Range(0, 100).Select(k => $"'v{k}'"));
        var rows = Enumerable.Range(95, 10).Select(k => new Row(S: $"v{k}")).ToArray();
        var r = Eval($"s IN ({items})", rows);
        Assert.Equal(Enumerable.Range(95, 10).Select(k => (object?)(k < 100)), r);
    }

    [Theory]
    [InlineData("CASE WHEN i > 0 THEN 1 ELSE 'x' END", "'x' is not a valid int64", 28)]
    [InlineData("CASE WHEN i > 0 THEN s ELSE 1 END", "CASE types string and int64 cannot be matched", 28)]
    [InlineData("CASE WHEN s THEN 1 END", "must be boolean", 10)]
    [InlineData("CASE i WHEN 'x' THEN 1 END", "'x' is not a valid int32", 12)]
    [InlineData("CASE WHEN i > 0 THEN 1", "expected WHEN, ELSE or END in CASE", 22)]
    [InlineData("CASE END", "expected WHEN after CASE", 5)]
    [InlineData("coalesce(s, i)", "COALESCE types string and int32 cannot be matched", 12)]
    [InlineData("i IN ('x')", "'x' is not a valid int32", 6)]
    [InlineData("i IN (s)", "cannot compare int32 with string", 2)]
    [InlineData("i IN 1", "expected '(' after IN", 5)]
    [InlineData("i IN ()", "unexpected ')'", 6)]
    [InlineData("i BETWEEN 1 OR 2", "expected AND in BETWEEN", 12)]
    [InlineData("i NOT 1", "expected BETWEEN, IN, LIKE or ILIKE after NOT", 6)]
    [InlineData("s LIKE 'a\\'", "LIKE pattern must not end with escape character", 7)]
    [InlineData("s LIKE 'a' ESCAPE 'xy'", "invalid escape string", 18)]
    [InlineData("i LIKE 'a'", "LIKE needs a string, got int32", 0)]
    [InlineData("i::money", "unknown type 'money'", 3)]
    [InlineData("s::varchar(10)", "type modifiers such as varchar(n) are not supported", 10)]
    [InlineData("regexp_like(s, '(')", "invalid regular expression '('", 15)]
    [InlineData("regexp_like(s, 'a', 'g')", "invalid regular expression option \"g\"", 15)]
    [InlineData("regexp_replace(s, 'a', 'b', t)", "the flags of regexp_replace must be a constant string", 28)]
    [InlineData("date_trunc('fortnight', ts)", "unit \"fortnight\" not recognized", 11)]
    [InlineData("date_trunc(s, ts)", "the unit of date_trunc must be a constant string", 11)]
    [InlineData("date_trunc('day', ts, 'Mars/Olympus')", "unknown time zone 'Mars/Olympus'", 22)]
    [InlineData("ts AT TIME ZONE '+02:00'", "numeric offsets are not accepted", 16)]
    [InlineData("extract(hour FROM dt)", "unit \"hour\" not supported for type date", 8)]
    [InlineData("extract(fortnight FROM ts)", "unit \"fortnight\" not recognized", 8)]
    [InlineData("extract(hour ts)", "expected FROM in EXTRACT", 13)]
    [InlineData("ts + 1", "operator + is not defined for timestamp + int64 (add an INTERVAL", 3)]
    [InlineData("ts + ts", "operator + is not defined for timestamp + timestamp", 3)]
    [InlineData("INTERVAL '1' DAY + 1", "operator + is not defined for interval + int64", 17)]
    [InlineData("split_part(s, ',', 0)", "field position must not be zero", 19)]
    [InlineData("substring(s, 1, -1)", "negative substring length not allowed", 16)]
    [InlineData("upper(i)", "upper needs a string, got int32 (write CAST(i AS string))", 6)]
    [InlineData("1 || 2", "operator || needs a string on one side", 2)]
    [InlineData("json_value(j, 'a.b')", "JSON path 'a.b' must start with $", 14)]
    [InlineData("j -> 1.5", "the key of -> must be a string (object key) or an integer (array index)", 5)]
    [InlineData("to_timestamp(s, 'YYYY-TZH')", "to_timestamp format pattern at 'TZH' is not supported", 16)]
    [InlineData("to_timestamp(s, 'MM-DD')", "the to_timestamp format needs a year (YYYY)", 16)]
    [InlineData("to_timestamp(s)", "to_timestamp needs epoch seconds (a number) or (text, format), got string", 13)]
    [InlineData("lower(s, t)", "lower takes 1 argument(s), got 2", 0)]
    [InlineData("nosuch(s)", "unknown function 'nosuch'", 0)]
    public void Errors_name_the_problem_and_its_position(string expr, string message, int position)
    {
        var e = Assert.Throws<ExpressionException>(() => Bind(expr));
        Assert.Contains(message, e.Message);
        Assert.Equal(position, e.Position);
    }

    [Theory]
    [InlineData("s || 'x' LIKE 'ax'", "((s || 'x') LIKE 'ax')")]
    [InlineData("i + 1 IN (2)", "((i + 1) IN (2))")]
    [InlineData("NOT s LIKE 'a%' AND b", "((NOT (s LIKE 'a%')) AND b)")]
    [InlineData("i BETWEEN 0 AND 1 = TRUE", "(((i >= 0) AND (i <= 1)) = TRUE)")]
    [InlineData("j ->> 'a' = 'x'", "((j ->> 'a') = 'x')")]
    [InlineData("-d::int", "(-CAST(d AS int32))")]
    [InlineData("ts AT TIME ZONE 'UTC' + INTERVAL '1' HOUR", "((ts AT TIME ZONE 'UTC') + INTERVAL '1')")]
    [InlineData("s || t IS NULL", "((s || t) IS NULL)")]
    public void Precedence_follows_postgresql(string expr, string described) =>
        Assert.Equal(described, Bind(expr).Describe());

    [Fact]
    public void At_not_followed_by_time_zone_is_left_for_the_caller()
    {
        var text = "ts at FROM x";
        var pos = 0;
        var e = ExprParser.ParseAt(text, ref pos);
        Assert.IsType<ColumnRef>(e);
        Assert.Equal("at FROM x", text[pos..].TrimStart());
    }
}
