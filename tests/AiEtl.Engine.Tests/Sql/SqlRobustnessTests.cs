using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Sql;
using Apache.Arrow;
using static AiEtl.Engine.Tests.Sql.SqlTestSupport;

namespace AiEtl.Engine.Tests.Sql;

/// <summary>
/// Random and mutated SQL through the parser and the planner: every input ends in a result or an
/// <see cref="SqlException"/> (a <see cref="PlanException"/> through the pipeline planner) whose position lies in
/// the text — never another exception, a stack overflow or a hang.
/// </summary>
public sealed partial class SqlRobustnessTests
{
    private const int Iterations = 100_000;

    private static readonly string[] Seeds =
    [
        "SELECT id, amount FROM orders",
        "SELECT * FROM orders WHERE paid",
        "SELECT id, amount * qty AS total, upper(name) AS n FROM orders WHERE status < 5 AND amount IS NOT NULL",
        "SELECT o.id, o.\"amount\" FROM orders AS o WHERE o.qty > 0 -- comment\n",
        "select ID as x from ORDERS where amount > 1 /* block */;",
        "SELECT id, coalesce(name, 'none') AS n, CAST(qty AS double) AS q FROM orders WHERE ts >= '2024-01-01 00:00:00'",
        "SELECT id, -amount AS neg, abs(qty - 10) AS d, qty % 7 AS m, name || '!' AS s FROM orders WHERE NOT (status <> 3) OR day = '2024-01-02'",
        "SELECT customer, window_start, window_end, count(*) AS orders, sum(amount) AS revenue FROM orders WHERE status = 3 GROUP BY customer, TUMBLE(ts, INTERVAL '1' MINUTE)",
        "SELECT sum(amount) / count(*) AS avg_amount, customer FROM orders GROUP BY customer",
        "SELECT lower(name) AS n, count(DISTINCT customer) AS c, count(*) FILTER (WHERE paid) AS p, max(ts) AS last FROM orders GROUP BY lower(name) HAVING count(*) > 10",
        "SELECT window_start, avg(amount) AS a, min(name) AS m FROM orders GROUP BY HOP(ts, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE)",
        "SELECT customer, window_end, approx_count_distinct(name) AS names FROM orders GROUP BY customer, SESSION(ts, INTERVAL '30' SECOND) HAVING count(*) > 1",
        "SELECT customer AS c, count(*) AS n FROM orders GROUP BY 1",
        "SELECT count(*) AS n FROM orders",
        "SELECT id FROM orders WHERE (amount > 10) = paid AND name <> 'it''s'",
        "SELECT \"id\" AS \"Order Id\", 1 AS one, 2.5 AS f, NULL AS nothing, TRUE AS t FROM \"orders\"",
        "SELECT id FROM orders WHERE ts < '2024-01-01T06:30:00Z' AND CAST(day AS timestamp) < ts",
        "SELECT customer, count(*) AS orders FROM orders WHERE amount > 0 GROUP BY customer HAVING orders > 2",
    ];

    private static readonly string[] Vocabulary =
    [
        "SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "ORDER", "LIMIT", "AS", "AND", "OR", "NOT", "IS", "NULL", "TRUE",
        "FALSE", "DISTINCT", "FILTER", "INTERVAL", "CAST", "JOIN", "UNION", "WITH", "CASE", "WHEN", "IN", "BETWEEN", "LIKE",
        "(", ")", ",", "*", "=", "==", "<>", "!=", "<", ">", "<=", ">=", "+", "-", "/", "%", "||", ".", ";", "'", "\"", "--",
        "/*", "*/", "::", "->>", "&&", "!", "?", "$1", "@", "[", "]", "{", "}",
        "id", "amount", "qty", "name", "ts", "day", "paid", "status", "customer", "window_start", "window_end", "orders", "o",
        "x", "source", "\"quoted name\"", "\"\"", "o.", "orders.", "x.y.z",
        "0", "1", "-1", "2.5", "1e400", "99999999999999999999", ".5", "1e", "'a'", "''", "'it''s'", "'2024-01-01'",
        "INTERVAL '1' MINUTE", "INTERVAL 'x' DAY", "INTERVAL '99999999999999999' DAY", "INTERVAL '1' MONTH", "INTERVAL '-5' SECOND",
        "count(*)", "count(", "sum(", "avg(", "min(", "max(", "approx_count_distinct(", "TUMBLE(", "HOP(", "SESSION(", "upper(",
        "coalesce(", "abs(", "CAST(", "count(DISTINCT", "FILTER (WHERE", "nope(",
    ];

    private static readonly string[] Pathological = BuildPathological();

    private static string[] BuildPathological()
    {
        string Repeat(string s, int n) => string.Concat(Enumerable.Repeat(s, n));
        return
        [
            "SELECT " + Repeat("(", 10_000) + "id" + Repeat(")", 10_000) + " FROM orders",
            "SELECT " + Repeat("(", 10_000) + " FROM orders",
            "SELECT id FROM orders WHERE " + Repeat("NOT ", 10_000) + "paid",
            "SELECT " + Repeat("-", 10_000) + "amount FROM orders",
            "SELECT " + Repeat("+", 10_000) + "amount FROM orders",
            "SELECT " + string.Join(" + ", Enumerable.Repeat("amount", 10_000)) + " AS s FROM orders",
            "SELECT id FROM orders WHERE " + string.Join(" AND ", Enumerable.Repeat("paid", 10_000)),
            "SELECT " + Repeat("upper(", 10_000) + "name" + Repeat(")", 10_000) + " FROM orders",
            "SELECT " + Repeat("abs(", 200) + "qty" + Repeat(")", 200) + " AS a FROM orders",
            "SELECT coalesce(" + string.Join(", ", Enumerable.Repeat("qty", 20_000)) + ") AS c FROM orders",
            "SELECT " + string.Join(", ", Enumerable.Range(0, 10_000).Select(i => $"id AS a{i}")) + " FROM orders",
            "SELECT " + string.Join(", ", Enumerable.Repeat("id + 1", 10_000)) + " FROM orders",
            "SELECT count(*) AS n FROM orders GROUP BY " + string.Join(", ", Enumerable.Repeat("customer", 10_000)),
            "SELECT " + new string('x', 100_000) + " FROM orders",
            "SELECT '" + new string('x', 100_000) + "' AS s FROM orders",
            "SELECT \"" + new string('x', 100_000) + "\" FROM orders",
            "SELECT id FROM orders " + Repeat("/* ", 10_000) + Repeat("*/ ", 10_000),
            "SELECT id FROM orders " + Repeat("/* ", 10_000),
            "SELECT id FROM orders WHERE " + Repeat("(", 300) + "paid" + Repeat(")", 300),
            "SELECT id FROM orders WHERE id IN (" + string.Join(", ", Enumerable.Range(0, 10_000)) + ")",
            "SELECT " + Repeat("o.", 10_000) + "id FROM orders o",
            Repeat("SELECT ", 10_000),
            Repeat(";", 10_000),
            Repeat("'", 10_001),
            Repeat("\"", 10_001),
            "SELECT " + Repeat("count(", 1_000) + "*" + Repeat(")", 1_000) + " FROM orders",
            "SELECT count(*) FROM orders GROUP BY TUMBLE(" + Repeat("(", 5_000) + "ts" + Repeat(")", 5_000) + ", INTERVAL '1' MINUTE)",
            "",
            " ",
            "\0",
        ];
    }

    [GeneratedRegex("""'(?:[^']|'')*'?|"(?:[^"]|"")*"?|--[^\n]*|/\*|\*/|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|<>|!=|<=|>=|==|\|\||::|->>|\S""")]
    private static partial Regex TokenPattern();

    private static List<string> Tokens(string sql) => TokenPattern().Matches(sql).Select(m => m.Value).ToList();

    private const string Punctuation = "()',\"*.;=<>!-/+%|:";

    private static char RandomChar(Random rnd) => rnd.Next(6) switch
    {
        0 => (char)rnd.Next(0, 32),
        1 => (char)rnd.Next(0xD800, 0xE000),
        2 => (char)rnd.Next(0x80, 0x3000),
        3 => Punctuation[rnd.Next(Punctuation.Length)],
        4 => (char)rnd.Next(0, 0x10000),
        _ => (char)rnd.Next(32, 127),
    };

    private static string Whitespace(Random rnd) => rnd.Next(20) switch
    {
        0 => "\n",
        1 => "\t",
        2 => " -- c\n",
        3 => " /* c */ ",
        4 => "",
        _ => " ",
    };

    private static string Join(List<string> tokens, Random rnd)
    {
        var sb = new StringBuilder();
        foreach (var t in tokens)
        {
            if (sb.Length > 0) sb.Append(Whitespace(rnd));
            sb.Append(t);
        }
        return sb.ToString();
    }

    /// <summary>The i-th test input: mostly mutated seeds, some token soup, some random characters, the pathological list.</summary>
    private static string Generate(int i, Random rnd)
    {
        if (i < Pathological.Length) return Pathological[i];
        var kind = rnd.Next(100);
        if (kind < 8)
        {
            var n = rnd.Next(1, 40);
            return Join(Enumerable.Range(0, n).Select(_ => Vocabulary[rnd.Next(Vocabulary.Length)]).ToList(), rnd);
        }
        if (kind < 12)
        {
            var chars = new char[rnd.Next(0, 200)];
            for (var k = 0; k < chars.Length; k++) chars[k] = RandomChar(rnd);
            return new string(chars);
        }
        var tokens = Tokens(Seeds[rnd.Next(Seeds.Length)]);
        var mutations = rnd.Next(1, 4);
        for (var m = 0; m < mutations && tokens.Count > 0; m++)
        {
            var at = rnd.Next(tokens.Count);
            switch (rnd.Next(5))
            {
                case 0: tokens.RemoveAt(at); break;
                case 1: tokens.Insert(at, Vocabulary[rnd.Next(Vocabulary.Length)]); break;
                case 2:
                {
                    var other = rnd.Next(tokens.Count);
                    (tokens[at], tokens[other]) = (tokens[other], tokens[at]);
                    break;
                }
                case 3: tokens.Insert(at, tokens[at]); break;
                default: tokens[at] = Vocabulary[rnd.Next(Vocabulary.Length)]; break;
            }
        }
        var sql = new StringBuilder(Join(tokens, rnd));
        if (kind < 40)
        {
            // Character-level damage on top.
            var edits = rnd.Next(1, 4);
            for (var e = 0; e < edits; e++)
            {
                var pos = sql.Length == 0 ? 0 : rnd.Next(sql.Length);
                switch (rnd.Next(5))
                {
                    case 0 when sql.Length > 0: sql.Remove(pos, 1); break;
                    case 1: sql.Insert(pos, RandomChar(rnd)); break;
                    case 2 when sql.Length > 0: sql[pos] = RandomChar(rnd); break;
                    case 3: sql.Length = pos; break;
                    default:
                        for (var k = rnd.Next(1, 20); k > 0; k--) sql.Insert(pos, RandomChar(rnd));
                        break;
                }
            }
        }
        return sql.ToString();
    }

    private static void CheckPosition(string sql, SqlException e)
    {
        var lines = sql.Split('\n');
        Assert.False(string.IsNullOrWhiteSpace(e.Message), $"empty message for {Show(sql)}");
        Assert.True(e.Line >= 1 && e.Line <= lines.Length, $"line {e.Line} out of range for {Show(sql)}: {e.Message}");
        Assert.True(e.Column >= 1 && e.Column <= lines[e.Line - 1].Length + 1, $"column {e.Column} out of range on line {e.Line} for {Show(sql)}: {e.Message}");
        Assert.InRange(e.Offset, 0, sql.Length);
    }

    private static string Show(string sql) => sql.Length > 300 ? sql[..300] + $"… ({sql.Length} chars)" : sql;

    [Fact]
    public void A_hundred_thousand_random_and_mutated_queries_end_in_a_plan_or_a_positioned_error()
    {
        var sources = new[] { Orders(), Orders(bounded: false, eventTime: "ts", latenessMicros: 1_000_000), Orders(bounded: false) };
        var rnd = new Random(20_261_129);
        var total = Stopwatch.StartNew();
        var slowest = (Ms: 0.0, Sql: "");
        var totalCpuMs = 0.0;
        int planned = 0, rejected = 0;
        var failures = new List<string>();
        // Warm up (JIT) on inputs of every kind before anything is timed.
        var warmup = new Random(1);
        for (var i = 0; i < Pathological.Length + 500; i++) TryCompile(Generate(i, warmup), sources[i % sources.Length]);
        for (var i = 0; i < Iterations; i++)
        {
            var sql = Generate(i, rnd);
            var source = sources[i % sources.Length];
            var sw = Stopwatch.StartNew();
            var cpu = ThreadCpu.Now();
            try
            {
                SqlCompiler.Compile(sql, source);
                planned++;
            }
            catch (SqlException e)
            {
                rejected++;
                CheckPosition(sql, e);
            }
            catch (Exception e) when (failures.Count < 10)
            {
                failures.Add($"{e.GetType().Name}: {e.Message}\n  for: {Show(sql)}\n{e.StackTrace}");
            }
            // These machines are shared (load far above the core count happens): the bound is on the CPU time of
            // this thread, with a generous wall-clock bound on top for anything that would block.
            var ms = (ThreadCpu.Now() - cpu).TotalMilliseconds;
            totalCpuMs += ms;
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"input took {sw.Elapsed} of wall-clock time: {Show(sql)}");
            for (var retry = 0; retry < 2 && ms > 200; retry++)
            {
                cpu = ThreadCpu.Now();
                TryCompile(sql, source);
                ms = Math.Min(ms, (ThreadCpu.Now() - cpu).TotalMilliseconds);
            }
            if (ms > slowest.Ms) slowest = (ms, sql);
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
        Assert.True(slowest.Ms < 200, $"slowest input took {slowest.Ms:0.0} ms of CPU: {Show(slowest.Sql)}");
        // CPU time, not wall-clock: the whole-suite run shares two cores with every other test collection.
        Assert.True(totalCpuMs < 60_000, $"{Iterations} inputs took {totalCpuMs / 1000:0.0} s of CPU ({total.Elapsed} wall-clock)");
        Assert.True(planned > 1_000, $"only {planned} inputs planned: the mutations are too destructive to reach the planner");
        Assert.True(rejected > 10_000, $"only {rejected} inputs rejected");
        TestContext.Current.SendDiagnosticMessage($"{Iterations} inputs: {planned} planned, {rejected} rejected, slowest {slowest.Ms:0.0} ms of CPU, total {total.Elapsed.TotalSeconds:0.0} s");
    }

    private static void TryCompile(string sql, SqlSource source)
    {
        try
        {
            SqlCompiler.Compile(sql, source);
        }
        catch (SqlException)
        {
        }
    }

    [Fact]
    public void Through_the_pipeline_planner_only_plan_exceptions_escape()
    {
        var batches = new List<Batch>();
        var rnd = new Random(7);
        var failures = new List<string>();
        var sink = new RowCollectingSink();
        for (var i = 0; i < 3_000; i++)
        {
            var sql = Generate(Pathological.Length + i, rnd);
            try
            {
                Planner.Plan(SqlTestSupport.Spec(sql, batches, sink), Registry());
            }
            catch (PlanException e)
            {
                var error = Assert.Single(e.Errors);
                Assert.Equal("transform", error.Path);
                Assert.Matches("^line [0-9]+ col [0-9]+: ", error.Message);
            }
            catch (Exception e) when (failures.Count < 10)
            {
                failures.Add($"{e.GetType().Name}: {e.Message}\n  for: {Show(sql)}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    [Fact]
    public void Deep_inputs_do_not_overflow_a_small_thread_stack()
    {
        Exception? unexpected = null;
        var thread = new Thread(() =>
        {
            foreach (var sql in Pathological)
            {
                try
                {
                    SqlCompiler.Compile(sql, Orders());
                }
                catch (SqlException)
                {
                }
                catch (Exception e)
                {
                    unexpected ??= e;
                }
            }
        }, maxStackSize: 1024 * 1024);
        thread.Start();
        thread.Join();
        Assert.Null(unexpected);
    }
}

/// <summary>CPU time consumed by the calling thread (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>; elsewhere the process's).</summary>
internal static partial class ThreadCpu
{
    private const int ClockThreadCpuTime = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    public static TimeSpan Now()
    {
        if (OperatingSystem.IsLinux() && ClockGetTime(ClockThreadCpuTime, out var t) == 0)
            return TimeSpan.FromTicks(t.Seconds * TimeSpan.TicksPerSecond + t.Nanoseconds / 100);
        return Process.GetCurrentProcess().TotalProcessorTime;
    }
}
