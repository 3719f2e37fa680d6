using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Sql;
using static AiEtl.Engine.Tests.Sql.SqlTestSupport;

namespace AiEtl.Engine.Tests.Sql;

public sealed class SqlParserTests
{
    [Fact]
    public void A_simple_query_has_its_items_table_and_condition()
    {
        var q = SqlParser.Parse("SELECT id, amount * qty AS total FROM orders WHERE status = 3");
        Assert.Equal(2, q.Items.Count);
        Assert.IsType<ColumnRef>(((ExprItem)q.Items[0]).Expr);
        Assert.Null(((ExprItem)q.Items[0]).Alias);
        Assert.Equal("total", ((ExprItem)q.Items[1]).Alias);
        Assert.Equal("orders", q.From.Name);
        Assert.IsType<BinaryExpr>(q.Where);
        Assert.Empty(q.GroupBy);
        Assert.Null(q.Having);
    }

    [Fact]
    public void Keywords_are_case_insensitive_and_a_final_semicolon_is_allowed()
    {
        var q = SqlParser.Parse("select ID As x From ORDERS wHeRe amount > 1 Group By id HAVING count(*) > 1;  ");
        Assert.Equal("x", ((ExprItem)q.Items[0]).Alias);
        Assert.Equal("ORDERS", q.From.Name);
        Assert.NotNull(q.Where);
        Assert.Single(q.GroupBy);
        Assert.NotNull(q.Having);
        Assert.Equal("x", Compile("select ID As x From ORDERS wHeRe amount > 1").OutputSchema.FieldsList[0].Name);
    }

    [Fact]
    public void Comments_are_ignored_and_positions_after_them_stay_exact()
    {
        var sql = "SELECT id -- the key\n     , /* a /* nested */ block */ amount\nFROM orders /* end */ WHERE qty > 'x'";
        var q = SqlParser.Parse(sql);
        Assert.Equal(2, q.Items.Count);
        Assert.Equal(["id", "amount"], Compile("SELECT id -- the key\n, /* a /* nested */ block */ amount\nFROM orders -- done").OutputSchema.FieldsList.Select(f => f.Name));
        AssertError(sql, 3, 35, "'x' is not a valid int64");
    }

    [Fact]
    public void Comment_markers_inside_strings_are_text()
    {
        var plan = Compile("SELECT id FROM orders WHERE name = '-- not a comment /* nor this */'");
        Assert.Contains("'-- not a comment /* nor this */'", plan.Where!.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void Quoted_names_keep_case_and_spaces()
    {
        var plan = Compile("SELECT \"id\" AS \"Order Id\", amount \"Amount\" FROM \"orders\"");
        Assert.Equal(["Order Id", "Amount"], plan.OutputSchema.FieldsList.Select(f => f.Name));
    }

    [Fact]
    public void Qualified_names_are_resolved_against_the_table_or_its_alias()
    {
        Assert.Equal(["id", "amount"], Compile("SELECT orders.id, orders.amount FROM orders WHERE orders.qty > 0").OutputSchema.FieldsList.Select(f => f.Name));
        Assert.Equal(["id", "amount"], Compile("SELECT o.id, o.\"amount\" FROM orders AS o WHERE o.qty > 0").OutputSchema.FieldsList.Select(f => f.Name));
        Assert.Equal(OrdersSchema.FieldsList.Count, Compile("SELECT o.* FROM orders o").OutputSchema.FieldsList.Count);
    }

    [Fact]
    public void Star_and_implicit_aliases()
    {
        var plan = Compile("SELECT *, amount * 2 doubled FROM orders");
        Assert.Equal(OrdersSchema.FieldsList.Count + 1, plan.OutputSchema.FieldsList.Count);
        Assert.Equal("doubled", plan.OutputSchema.FieldsList[^1].Name);
    }

    [Fact]
    public void Windows_in_group_by_carry_their_sizes_in_microseconds()
    {
        var t = SqlParser.Parse("SELECT count(*) FROM orders GROUP BY customer, TUMBLE(ts, INTERVAL '1' MINUTE)").Window!;
        Assert.Equal((WindowKind.Tumble, 60_000_000L), (t.Kind, t.SizeMicros));
        var h = SqlParser.Parse("SELECT count(*) FROM orders GROUP BY HOP(ts, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE)").Window!;
        Assert.Equal((WindowKind.Hop, 60_000_000L, 300_000_000L), (h.Kind, h.SlideMicros, h.SizeMicros));
        var s = SqlParser.Parse("SELECT count(*) FROM orders GROUP BY session(ts, interval '30 seconds')").Window!;
        Assert.Equal((WindowKind.Session, 30_000_000L), (s.Kind, s.GapMicros));
    }

    [Theory]
    [InlineData("", 1, 1, "the query is empty")]
    [InlineData("  -- only a comment\n", 2, 1, "the query is empty")]
    [InlineData("SELECT FROM orders", 1, 8, "the select list is empty")]
    [InlineData("SELECT id amount total FROM orders", 1, 18, "found 'total' (is a comma missing between the select items?)")]
    [InlineData("SELECT id FROM orders WHERE name = \"shipped\"", 1, 36, "write strings in single quotes: 'shipped'")]
    [InlineData("SELECT id, FROM orders", 1, 10, "remove the trailing comma")]
    [InlineData("SELECT id FROM orders ORDER BY id", 1, 23, "ORDER BY is not supported yet")]
    [InlineData("SELECT id FROM orders LIMIT 5", 1, 23, "LIMIT is not supported yet")]
    [InlineData("SELECT id FROM orders UNION SELECT id FROM orders", 1, 23, "UNION is not supported yet")]
    [InlineData("SELECT id FROM orders JOIN x ON orders.id = x.id", 1, 23, "joins are not supported yet")]
    [InlineData("SELECT id FROM orders, other", 1, 22, "joins are not supported yet")]
    [InlineData("SELECT id FROM (SELECT id FROM orders)", 1, 16, "subqueries in FROM are not supported yet")]
    [InlineData("SELECT id FROM orders WHERE id = (SELECT 1)", 1, 35, "subqueries are not supported yet")]
    [InlineData("SELECT DISTINCT id FROM orders", 1, 8, "SELECT DISTINCT is not supported yet")]
    [InlineData("WITH x AS (SELECT 1) SELECT id FROM x", 1, 1, "WITH (common table expressions) is not supported yet")]
    [InlineData("SELECT id FROM orders GROUP BY id WHERE id > 1", 1, 35, "WHERE must come before GROUP BY")]
    [InlineData("SELECT id /* oops FROM orders", 1, 11, "unterminated /* comment")]
    [InlineData("SELECT id FROM orders; SELECT 1", 1, 24, "only one statement is allowed")]
    [InlineData("SELECT id FORM orders", 1, 11, "'FORM' is read as an alias here; did you mean FROM?")]
    [InlineData("SELECT id FROM orders WERE id > 1", 1, 23, "did you mean WHERE?")]
    [InlineData("SELECT count(*) FROM orders GROUP BY TUMBLE(ts, 5)", 1, 49, "write INTERVAL '5' MINUTE rather than a bare number")]
    [InlineData("SELECT count(*) FROM orders GROUP BY TUMBLE(ts, INTERVAL '1' MONTH)", 1, 49, "TUMBLE needs a fixed-size interval, not one in months or years")]
    [InlineData("SELECT count(*) FROM orders GROUP BY HOP(ts, INTERVAL '1' DAY, INTERVAL '1 year')", 1, 64, "HOP needs a fixed-size interval")]
    [InlineData("SELECT count(*) FROM orders GROUP BY SESSION(ts, INTERVAL '1 month 2 days')", 1, 50, "GROUP BY date_trunc('month', ts) for calendar months")]
    [InlineData("SELECT x.id FROM orders", 1, 8, "unknown table 'x'")]
    [InlineData("SELECT orders.id FROM orders o", 1, 8, "its alias")]
    [InlineData("SELECT id FROM orders WHERE amount > 1 status = 2", 1, 40, "is an AND or OR missing?")]
    [InlineData("SELECT id FROM orders WHERE amount > 1 && qty > 2", 1, 40, "write AND")]
    [InlineData("SELECT id FROM orders WHERE status == 1", 1, 36, "SQL compares with a single =")]
    [InlineData("SELECT id FROM orders GROUP BY id HAVING count(*) > 1 HAVING count(*) < 5", 1, 55, "HAVING appears twice")]
    [InlineData("SELECT id FROM orders WHERE amount > 1 GROUP BY id, ORDER BY id", 1, 51, "unexpected ',' before ORDER")]
    [InlineData("INSERT INTO t SELECT id FROM orders", 1, 1, "only SELECT queries are supported")]
    [InlineData("SELECT count(*) FROM orders GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), HOP(ts, INTERVAL '1' MINUTE, INTERVAL '2' MINUTE)", 1, 71, "only one window")]
    [InlineData("SELECT id,\n       amount\nFROM orders\nWHERE status = = 1", 4, 16, "unexpected '='")]
    [InlineData("SELECT id,\n  amount +\nFROM orders", 3, 1, "expected an expression, found the keyword FROM")]
    [InlineData("SELECT id AS FROM orders", 1, 14, "expected a name after AS, found the keyword FROM")]
    [InlineData("SELECT id FROM orders WHERE name = 'unterminated", 1, 36, "unterminated string literal")]
    [InlineData("SELECT id FROM orders GROUP id", 1, 29, "expected BY after GROUP")]
    [InlineData("SELECT 'a' || 'b' FROM orders WHERE amount >", 1, 45, "found the end of the text")]
    public void Syntax_errors_point_at_the_problem(string sql, int line, int column, string fragment) =>
        AssertError(sql, line, column, fragment);

    [Theory]
    [InlineData("SELECT TUMBLE(ts, INTERVAL '1' MINUTE) FROM orders", 1, 8, "is a window and belongs in GROUP BY")]
    [InlineData("SELECT customer, amount, count(*) FROM orders GROUP BY customer", 1, 18, "column 'amount' must appear in the GROUP BY clause or be used in an aggregate function")]
    [InlineData("SELECT id FROM orders WHERE sum(amount) > 1", 1, 29, "aggregate functions are not allowed in WHERE")]
    [InlineData("SELECT window_start, count(*) FROM orders GROUP BY customer", 1, 8, "window_start is defined only when the query groups by a window")]
    [InlineData("SELECT id FROM other", 1, 16, "unknown table 'other': the pipeline's source is named 'orders'")]
    [InlineData("SELECT amount * qty AS total FROM orders WHERE total > 5", 1, 48, "it is a name given in the select list")]
    [InlineData("SELECT id FROM orders GROUP BY 3", 1, 32, "GROUP BY position 3 is not in the select list")]
    [InlineData("SELECT sum(name) FROM orders", 1, 12, "sum needs a number, got a string")]
    [InlineData("SELECT avg(amount), count() FROM orders", 1, 21, "count() needs an argument")]
    [InlineData("SELECT id, id FROM orders", 1, 12, "the output column name 'id' is used twice")]
    [InlineData("SELECT id + 1, qty + 1 FROM orders", 1, 16, "name this column with AS")]
    [InlineData("SELECT count(*) FROM orders GROUP BY TUMBLE(name, INTERVAL '1' MINUTE)", 1, 45, "TUMBLE needs a timestamp as its first argument, got a string")]
    [InlineData("SELECT sum(count(*)) FROM orders", 1, 12, "aggregate calls cannot be nested")]
    [InlineData("SELECT id FROM orders WHERE qty", 1, 29, "WHERE needs a boolean condition, not a int64 expression")]
    [InlineData("SELECT count(*) AS n FROM orders GROUP BY n", 1, 43, "'n' is an aggregate in the select list")]
    [InlineData("SELECT * FROM orders GROUP BY id", 1, 8, "SELECT * cannot be used with GROUP BY")]
    [InlineData("SELECT id FROM orders WHERE amout > 1", 1, 29, "did you mean 'amount'?")]
    [InlineData("SELECT upper(name) FILTER (WHERE paid) FROM orders", 1, 8, "upper(…) is not an aggregate function")]
    [InlineData("SELECT sum(DISTINCT amount) FROM orders", 1, 8, "sum(DISTINCT …) is not supported yet")]
    [InlineData("SELECT customer, count(*) FROM orders GROUP BY customer HAVING amount > 1", 1, 64, "column 'amount' must appear in the GROUP BY clause")]
    [InlineData("SELECT count(*) FILTER (WHERE qty) FROM orders", 1, 31, "FILTER (WHERE …) needs a boolean condition")]
    [InlineData("SELECT id FROM orders WHERE window_end > ts", 1, 29, "window_end is defined only when the query groups by a window")]
    [InlineData("SELECT nope AS nope, count(*) AS n FROM orders GROUP BY customer HAVING nope > 1", 1, 8, "unknown column 'nope'")]
    [InlineData("SELECT count(*) AS n FROM orders GROUP BY customer HAVING n > 1 AND x", 1, 69, "unknown column 'x'")]
    public void Semantic_errors_point_at_the_problem(string sql, int line, int column, string fragment) =>
        AssertError(sql, line, column, fragment);

    [Fact]
    public void Ten_thousand_parentheses_are_an_error_not_a_stack_overflow()
    {
        var sql = "SELECT " + new string('(', 10_000) + "id" + new string(')', 10_000) + " FROM orders";
        var e = Assert.Throws<SqlException>(() => Compile(sql));
        Assert.Contains("nested too deeply", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, e.Line);
    }

    [Fact]
    public void A_very_long_operator_chain_is_an_error_not_a_stack_overflow()
    {
        var sql = "SELECT id FROM orders WHERE " + string.Join(" OR ", Enumerable.Range(0, 20_000).Select(i => $"id = {i}"));
        var e = Assert.Throws<SqlException>(() => Compile(sql));
        Assert.Contains("nested too deeply", e.Message, StringComparison.Ordinal);
        var ok = "SELECT id FROM orders WHERE " + string.Join(" OR ", Enumerable.Range(0, 300).Select(i => $"id = {i}"));
        Assert.NotNull(Compile(ok).Where);
    }

    [Fact]
    public void Line_and_column_count_from_one_across_lines()
    {
        var e = AssertError("SELECT id\nFROM orders\nWHERE\n    nope > 1", 4, 5, "unknown column 'nope'");
        Assert.Equal("line 4 col 5: " + e.Message, e.Describe());
        Assert.Equal(32, e.Offset);
    }
}
