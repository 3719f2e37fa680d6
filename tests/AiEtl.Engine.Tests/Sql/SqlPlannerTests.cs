using AiEtl.Engine.Columns;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.Engine.Sql;
using Apache.Arrow;
using static AiEtl.Engine.Tests.Sql.SqlTestSupport;

namespace AiEtl.Engine.Tests.Sql;

public sealed class SqlPlannerTests
{
    private static string[] Names(Schema s) => s.FieldsList.Select(f => f.Name).ToArray();

    private static ColumnKind[] Kinds(Schema s) => s.FieldsList.Select(f => ColumnTypes.FromArrow(f.DataType)).ToArray();

    [Fact]
    public void A_query_without_aggregates_is_one_filter_and_project_pass()
    {
        var plan = Compile("SELECT id, amount * qty AS total, upper(name) AS n FROM orders WHERE status < 5");
        Assert.Null(plan.Aggregation);
        Assert.Equal(["id", "total", "n"], Names(plan.OutputSchema));
        Assert.Equal([ColumnKind.Int64, ColumnKind.Float64, ColumnKind.String], Kinds(plan.OutputSchema));
        var op = plan.CreatePreOperator();
        Assert.NotNull(op);
        Assert.Equal("filter+project", op.Name);
        Assert.Equal(
        [
            "Project id, (amount * qty) AS total, upper(name) AS n",
            "  Filter (status < 5)",
            "    Scan orders (id int64, customer int64, status int32, amount double, qty int64, name utf8, ts timestamp, day date32, paid bool)",
        ], plan.Logical.Lines());
    }

    [Fact]
    public void Select_star_without_a_condition_needs_no_operator_and_with_one_only_filters()
    {
        var plan = Compile("SELECT * FROM orders");
        Assert.Null(plan.CreatePreOperator());
        Assert.Same(OrdersSchema, plan.OutputSchema);
        var filtered = Compile("SELECT * FROM orders WHERE paid");
        Assert.Null(filtered.PreProjection);
        Assert.Equal("filter", filtered.CreatePreOperator()!.Name);
    }

    [Fact]
    public void The_design_example_windows_by_event_time_behind_a_hash_edge_on_the_key()
    {
        var plan = Compile(
            "SELECT customer, window_start, window_end, count(*) AS orders, sum(amount) AS revenue\n" +
            "FROM orders WHERE status = 3\n" +
            "GROUP BY customer, TUMBLE(ts, INTERVAL '1' MINUTE)",
            Orders(bounded: false, eventTime: "ts", latenessMicros: 5_000_000));
        Assert.Equal(["customer", "ts", "amount"], Names(plan.PreSchema));
        Assert.Equal([ColumnKind.Int64, ColumnKind.Timestamp, ColumnKind.Float64], Kinds(plan.PreSchema));
        var agg = plan.Aggregation!;
        Assert.Equal([0], agg.KeyColumns);
        Assert.Equal(new WindowSpec(WindowKind.Tumble, 1, 60_000_000, 60_000_000, 0, 5_000_000), agg.Window);
        Assert.Equal([new AggregateSpec(AggregateFunction.CountStar, -1, "orders"), new AggregateSpec(AggregateFunction.Sum, 2, "revenue")], agg.Aggregates);
        Assert.Null(plan.PostProjection);
        Assert.Null(plan.CreatePostOperator());
        Assert.Equal(["customer", "window_start", "window_end", "orders", "revenue"], Names(plan.OutputSchema));
        Assert.Equal([ColumnKind.Int64, ColumnKind.Timestamp, ColumnKind.Timestamp, ColumnKind.Int64, ColumnKind.Float64], Kinds(plan.OutputSchema));
        Assert.True(plan.CreateAggregateOperator().IsStateful);
        Assert.Equal("Aggregate keys [customer] window TUMBLE(ts, 1m) allowed lateness 5s aggregates [count(*) AS orders, sum(amount) AS revenue]", plan.Logical.Lines()[1].Trim());
    }

    [Fact]
    public void Expressions_over_aggregates_run_after_the_aggregate_with_the_names_as_written()
    {
        var plan = Compile("SELECT sum(amount) / count(*) AS avg_amount, customer FROM orders GROUP BY customer");
        var agg = plan.Aggregation!;
        Assert.Equal(WindowKind.None, agg.Window.Kind);
        Assert.Equal([AggregateFunction.Sum, AggregateFunction.CountStar], agg.Aggregates.Select(a => a.Function));
        Assert.Equal(["customer", "sum(amount)", "count(*)"], Names(agg.OutputSchema));
        Assert.Equal(["avg_amount", "customer"], Names(plan.OutputSchema));
        Assert.Equal([ColumnKind.Float64, ColumnKind.Int64], Kinds(plan.OutputSchema));
        Assert.Equal("project (sum(amount) / count(*)) AS avg_amount, customer", plan.CreatePostOperator()!.Describe());
    }

    [Fact]
    public void Having_filter_distinct_and_expression_keys_become_pre_aggregation_columns()
    {
        var plan = Compile(
            "SELECT lower(name) AS n, count(DISTINCT customer) AS customers, count(*) FILTER (WHERE paid) AS paid_orders, max(ts) AS last " +
            "FROM orders GROUP BY lower(name) HAVING count(*) > 10");
        Assert.Equal(["n", "customer", "paid", "ts"], Names(plan.PreSchema));
        Assert.Equal([ColumnKind.String, ColumnKind.Int64, ColumnKind.Bool, ColumnKind.Timestamp], Kinds(plan.PreSchema));
        Assert.Equal(
        [
            new AggregateSpec(AggregateFunction.CountDistinct, 1, "customers"),
            new AggregateSpec(AggregateFunction.CountStar, -1, "paid_orders", 2),
            new AggregateSpec(AggregateFunction.Max, 3, "last"),
            new AggregateSpec(AggregateFunction.CountStar, -1, "count(*)"),
        ], plan.Aggregation!.Aggregates);
        Assert.NotNull(plan.Having);
        Assert.Equal(["n", "customers", "paid_orders", "last"], Names(plan.OutputSchema));
        Assert.Equal([ColumnKind.String, ColumnKind.Int64, ColumnKind.Int64, ColumnKind.Timestamp], Kinds(plan.OutputSchema));
        Assert.Equal("filter (count(*) > 10) -> project n, customers, paid_orders, last", plan.CreatePostOperator()!.Describe());
    }

    [Theory]
    [InlineData("SELECT customer AS c, count(*) AS n FROM orders GROUP BY c")]
    [InlineData("SELECT customer AS c, count(*) AS n FROM orders GROUP BY 1")]
    [InlineData("SELECT customer AS c, count(*) AS n FROM orders GROUP BY customer, customer")]
    public void Group_by_accepts_aliases_positions_and_repeats(string sql)
    {
        var plan = Compile(sql);
        Assert.Equal([0], plan.Aggregation!.KeyColumns);
        Assert.Equal("customer", plan.PreSchema.FieldsList[0].Name);
        Assert.Equal(["c", "n"], Names(plan.OutputSchema));
    }

    [Fact]
    public void Window_start_and_window_end_in_group_by_are_implied_by_the_window()
    {
        var plan = Compile("SELECT window_start, count(*) AS n FROM orders GROUP BY window_start, window_end, HOP(ts, INTERVAL '1' MINUTE, INTERVAL '3' MINUTE)");
        Assert.Empty(plan.Aggregation!.KeyColumns);
        Assert.Equal(new WindowSpec(WindowKind.Hop, 0, 180_000_000, 60_000_000, 0, 0), plan.Aggregation.Window);
        Assert.Equal(["window_start", "n"], Names(plan.OutputSchema));
    }

    [Fact]
    public void Having_may_name_an_aggregate_by_its_alias()
    {
        var plan = Compile("SELECT customer, count(*) AS orders FROM orders GROUP BY customer HAVING orders > 2");
        Assert.Single(plan.Aggregation!.Aggregates);
        Assert.Null(plan.PostProjection);
        Assert.Equal("filter (orders > 2)", plan.CreatePostOperator()!.Describe());
    }

    [Fact]
    public void A_global_aggregate_has_no_keys()
    {
        var plan = Compile("SELECT count(*) AS n, avg(amount) AS a, min(name) AS first FROM orders");
        Assert.Empty(plan.Aggregation!.KeyColumns);
        Assert.Equal([ColumnKind.Int64, ColumnKind.Float64, ColumnKind.String], Kinds(plan.OutputSchema));
    }

    [Fact]
    public void Windows_need_event_time_on_unbounded_sources_and_must_use_its_column()
    {
        const string sql = "SELECT count(*) AS n FROM orders GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)";
        AssertError(sql, 1, 43, "needs event time: declare event_time", Orders(bounded: false));
        Assert.NotNull(Compile(sql, Orders(bounded: true)).Aggregation);
        AssertError("SELECT count(*) AS n FROM orders GROUP BY TUMBLE(CAST(day AS timestamp), INTERVAL '1' MINUTE)", 1, 50,
            "windows run on the source's event time: write TUMBLE(ts, …)", Orders(bounded: true, eventTime: "ts"));
        AssertError("SELECT customer, count(*) AS n FROM orders GROUP BY customer", 1, 44,
            "an aggregation without a window never completes on an unbounded source", Orders(bounded: false, eventTime: "ts"));
        AssertError("SELECT count(*) AS n FROM orders", 1, 8, "never completes", Orders(bounded: false, eventTime: "ts"));
    }

    private const string GeneratorYaml = """
        name: sql-plan
        source:
          generator: { kind: orders }
          event_time: { column: ts, max_out_of_orderness: 5s, allowed_lateness: 30s }
        transform: |
          SELECT customer_id, window_start, window_end,
                 count(*) AS orders, sum(amount) / count(*) AS avg_amount
          FROM source WHERE status = 'paid'
          GROUP BY customer_id, TUMBLE(ts, INTERVAL '1' MINUTE)
        sink:
          console: { format: jsonl }
        """;

    private static PipelineSpec Load(string yaml)
    {
        var result = PipelineSpecLoader.LoadFromString(yaml, "sql.yaml");
        Assert.True(result.IsValid, string.Join("\n", result.FormatErrors()));
        return result.Spec!;
    }

    [Fact]
    public void A_stateless_query_compiles_to_the_same_fused_vertex_as_the_operator_chain()
    {
        // The core bench's query: as SQL and as the filter + select chain it must plan to the same operators.
        var batches = OrdersData(rows: 10, batchSize: 2);
        var sqlSpec = SqlTestSupport.Spec("SELECT id, customer, amount * qty AS total, ts FROM orders WHERE status < 5", batches, new RowCollectingSink());
        var chainSpec = sqlSpec with { Transform = new OperatorChainSpec([new FilterStep("status < 5"), new SelectStep(["id", "customer", "amount * qty AS total", "ts"])]) };
        var sql = Planner.Plan(sqlSpec, Registry(), parallelismOverride: 2).Graph;
        var chain = Planner.Plan(chainSpec, Registry(), parallelismOverride: 2).Graph;
        Assert.Equal(chain.Vertices.Count, sql.Vertices.Count);
        foreach (var (c, s) in chain.Vertices.Zip(sql.Vertices))
        {
            Assert.Equal(c.OperatorDescriptions, s.OperatorDescriptions);
            Assert.Equal((c.Name, c.Parallelism, c.IsSink), (s.Name, s.Parallelism, s.IsSink));
            Assert.Equal(Names(c.OutputSchema), Names(s.OutputSchema));
            Assert.Equal(Kinds(c.OutputSchema), Kinds(s.OutputSchema));
            Assert.Equal(c.CreateChain(0).Select(o => o.GetType()), s.CreateChain(0).Select(o => o.GetType()));
        }
        Assert.IsType<FilterProjectOperator>(sql.Vertices[0].CreateChain(0)[0]);
        Assert.StartsWith("filter (status < 5) -> project id, customer, (amount * qty) AS total, ts", sql.Vertices[0].OperatorDescriptions[0], StringComparison.Ordinal);
        foreach (var b in batches) b.Dispose();
    }

    [Fact]
    public void The_planner_puts_the_aggregate_in_a_keyed_vertex_behind_a_hash_edge()
    {
        var plan = Planner.Plan(Load(GeneratorYaml), BuiltinConnectors.Create(), parallelismOverride: 2);
        var graph = plan.Graph;
        // The console sink takes one writer, so it gets its own vertex after the keyed one.
        Assert.Equal(["source:source", "keyed:customer_id", "sink:sink"], graph.Vertices.Select(v => v.Name));
        var source = graph.Vertices[0];
        Assert.Equal(["customer_id", "ts", "amount"], Names(source.OutputSchema));
        Assert.StartsWith("filter (status = 'paid') -> project customer_id, ts, amount", source.OperatorDescriptions.Single(), StringComparison.Ordinal);
        var edge = Assert.Single(source.Outputs);
        Assert.Equal(Partitioning.Hash, edge.Partitioning);
        Assert.Equal([0], edge.KeyColumns);
        var keyed = graph.Vertices[1];
        Assert.Equal(2, keyed.Parallelism);
        Assert.False(keyed.IsSink);
        Assert.Equal(2, keyed.OperatorDescriptions.Count);
        Assert.Contains("window_aggregate by customer_id TUMBLE(ts, 60000000us)", keyed.OperatorDescriptions[0], StringComparison.Ordinal);
        Assert.Equal(["customer_id", "window_start", "window_end", "orders", "avg_amount"], Names(keyed.OutputSchema));
        var chain = keyed.CreateChain(0);
        Assert.IsType<WindowAggregateOperator>(chain[0]);
        Assert.IsType<FilterProjectOperator>(chain[1]);
        var explain = plan.Explain();
        Assert.Contains("  sql:\n    Project customer_id, window_start, window_end, orders, (sum(amount) / orders) AS avg_amount\n", explain, StringComparison.Ordinal);
        Assert.Contains("Aggregate keys [customer_id] window TUMBLE(ts, 1m) allowed lateness 30s aggregates [count(*) AS orders, sum(amount)]", explain, StringComparison.Ordinal);
        Assert.Contains("=> keyed:customer_id [hash by customer_id]", explain, StringComparison.Ordinal);
        // The generator's readers have no splits: the watermark follows the largest event time each task read.
        Assert.Contains("    event time: ts, watermark = max event time read by each task - 5s\n", explain, StringComparison.Ordinal);
    }

    [Fact]
    public void A_global_aggregate_runs_in_one_keyed_instance()
    {
        var yaml = GeneratorYaml.Replace("generator: { kind: orders }", "generator: { kind: orders, rows: 1000 }", StringComparison.Ordinal)
            .Replace("SELECT customer_id, window_start, window_end,\n         count(*) AS orders, sum(amount) / count(*) AS avg_amount", "SELECT count(*) AS orders", StringComparison.Ordinal)
            .Replace("GROUP BY customer_id, TUMBLE(ts, INTERVAL '1' MINUTE)", "", StringComparison.Ordinal);
        var plan = Planner.Plan(Load(yaml), BuiltinConnectors.Create(), parallelismOverride: 2);
        Assert.Equal("keyed:all", plan.Graph.Vertices[1].Name);
        Assert.Equal(1, plan.Graph.Vertices[1].Parallelism);
        Assert.Empty(plan.Graph.Vertices[0].Outputs[0].KeyColumns);
    }

    [Fact]
    public void Sql_errors_in_a_spec_are_reported_at_the_transform_with_line_and_column()
    {
        var yaml = GeneratorYaml.Replace("FROM source", "FROM orders", StringComparison.Ordinal);
        var e = Assert.Throws<PlanException>(() => Planner.Plan(Load(yaml), BuiltinConnectors.Create()));
        var error = Assert.Single(e.Errors);
        Assert.Equal("transform", error.Path);
        Assert.Equal("line 3 col 6: unknown table 'orders': the pipeline's source is named 'source' (write FROM source)", error.Message);
        Assert.Equal("sql.yaml: transform: line 3 col 6: unknown table 'orders': the pipeline's source is named 'source' (write FROM source)", error.Format("sql.yaml"));

        var noEventTime = GeneratorYaml.Replace("  event_time: { column: ts, max_out_of_orderness: 5s, allowed_lateness: 30s }\n", "", StringComparison.Ordinal);
        var e2 = Assert.Throws<PlanException>(() => Planner.Plan(Load(noEventTime), BuiltinConnectors.Create()));
        Assert.Equal("line 4 col 23: a window over the unbounded source 'source' needs event time: declare event_time: { column: …, max_out_of_orderness: … } on the source", Assert.Single(e2.Errors).Message);
    }
}
