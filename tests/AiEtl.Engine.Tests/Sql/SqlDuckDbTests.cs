using System.Globalization;
using System.Numerics;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;
using DuckDB.NET.Data;
using static AiEtl.Engine.Tests.Sql.SqlTestSupport;

namespace AiEtl.Engine.Tests.Sql;

/// <summary>
/// Golden cases checked against DuckDB: the same SQL over the same rows, run by the engine (planner, job runner,
/// two instances) and by DuckDB, must give the same multiset of rows (floats to a relative 1e-12). Cases here avoid
/// the places where DuckDB and PostgreSQL (whose semantics the engine follows) differ, such as integer division.
/// </summary>
public sealed class SqlDuckDbTests : IClassFixture<SqlDuckDbTests.Data>
{
    private readonly Data _data;

    public SqlDuckDbTests(Data data) => _data = data;

    /// <summary>The input rows, in the engine's batches and in a DuckDB table of the same name.</summary>
    public sealed class Data : IDisposable
    {
        public List<Batch> Batches { get; } = OrdersData();
        public DuckDBConnection Connection { get; }

        public Data()
        {
            Connection = new DuckDBConnection("Data Source=:memory:");
            Connection.Open();
            using (var create = Connection.CreateCommand())
            {
                create.CommandText = "CREATE TABLE orders (id BIGINT, customer BIGINT, status INTEGER, amount DOUBLE, qty BIGINT, name VARCHAR, ts TIMESTAMP, day DATE, paid BOOLEAN)";
                create.ExecuteNonQuery();
            }
            using var appender = Connection.CreateAppender("orders");
            foreach (var b in Batches)
            {
                foreach (var row in Support.Batches.Rows(b))
                {
                    var r = appender.CreateRow();
                    for (var c = 0; c < row.Length; c++)
                    {
                        var kind = ColumnTypes.FromArrow(OrdersSchema.FieldsList[c].DataType);
                        r = row[c] switch
                        {
                            null => r.AppendNullValue(),
                            long v when kind == ColumnKind.Timestamp => r.AppendValue(DateTime.UnixEpoch.AddTicks(v * 10)),
                            long v => r.AppendValue(v),
                            int v when kind == ColumnKind.Date => r.AppendValue(DateOnly.FromDayNumber(EpochDay + v)),
                            int v => r.AppendValue(v),
                            double v => r.AppendValue(v),
                            bool v => r.AppendValue(v),
                            string v => r.AppendValue(v),
                            var v => throw new NotSupportedException(v.GetType().Name),
                        };
                    }
                    r.EndRow();
                }
            }
        }

        public void Dispose()
        {
            Connection.Dispose();
            foreach (var b in Batches) b.Dispose();
        }
    }

    private static readonly int EpochDay = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;

    public static TheoryData<string> Queries { get; } = new()
    {
        // Projections and the select list.
        "SELECT * FROM orders",
        "SELECT id, amount FROM orders",
        "SELECT id AS key, amount AS value, name AS label FROM orders",
        "SELECT id i, amount a FROM orders",
        "SELECT o.id, o.\"amount\", \"name\" FROM orders AS o",
        "SELECT *, amount * 2 AS doubled FROM orders WHERE id % 3 = 0",
        "SELECT id, 1 AS one, 'x' AS s, TRUE AS t, NULL AS n, 2.5 AS f FROM orders",
        // Arithmetic, with NULLs propagating.
        "SELECT id, amount * qty AS total FROM orders",
        "SELECT id, status * qty + amount AS mixed, status + 1 AS s1, qty - status AS d FROM orders",
        "SELECT id, -amount AS neg, -qty AS nq, abs(qty - 10) AS dist FROM orders",
        "SELECT id, qty % 7 AS m, id % 5 AS r, status % 3 AS s FROM orders",
        "SELECT id, (amount + qty) * 2 AS a, amount + qty * 2 AS b FROM orders",
        "SELECT id, amount / 4.0 AS quarter, amount / qty AS per_unit FROM orders WHERE qty <> 0",
        "SELECT id, id * 1000000000 AS big, customer * customer AS sq FROM orders",
        "SELECT id, amount + NULL AS x, qty * NULL AS y FROM orders",
        // Filters with three-valued logic.
        "SELECT id FROM orders WHERE amount > 50",
        "SELECT id, status, qty FROM orders WHERE status = 3 AND qty < 10",
        "SELECT id FROM orders WHERE status = 3 OR amount IS NULL",
        "SELECT id FROM orders WHERE NOT (status < 5)",
        "SELECT id FROM orders WHERE amount IS NOT NULL AND name IS NULL",
        "SELECT id FROM orders WHERE NOT (amount > 50) OR paid",
        "SELECT id, amount FROM orders WHERE amount >= 99.5 OR amount < -19.5",
        "SELECT id FROM orders WHERE qty > -5 AND qty <= 5 AND status <> 2",
        "SELECT id, amount * qty AS total FROM orders WHERE amount * qty > 100",
        "SELECT id FROM orders WHERE (amount > 10) = paid",
        "SELECT id FROM orders WHERE status != customer",
        // Booleans.
        "SELECT id, paid FROM orders WHERE paid",
        "SELECT id FROM orders WHERE paid = false",
        "SELECT id FROM orders WHERE NOT paid OR paid IS NULL",
        "SELECT id, paid AND amount > 10 AS a, paid OR qty > 0 AS o, NOT paid AS n FROM orders",
        // Strings.
        // DuckDB upper-cases ß to ẞ; PostgreSQL and the engine keep ß.
        "SELECT id, upper(name) AS u, lower(name) AS l, length(name) AS n FROM orders WHERE name <> 'Straße'",
        "SELECT id FROM orders WHERE name = 'café'",
        "SELECT id, name FROM orders WHERE name <> 'alpha'",
        "SELECT id FROM orders WHERE name = ''",
        "SELECT id, name || '!' AS shout, 'n=' || name AS tagged FROM orders WHERE name IS NOT NULL",
        "SELECT id, coalesce(name, 'none') AS n, coalesce(amount, 0.0) AS a, coalesce(qty, status, -1) AS q FROM orders",
        "SELECT id, name FROM orders WHERE upper(name) = 'ZOË' OR lower(name) = 'straße'",
        // Timestamps and dates.
        "SELECT id, ts FROM orders WHERE ts >= '2024-01-02 12:00:00'",
        "SELECT id FROM orders WHERE ts < '2024-01-01 06:30:00.5'",
        "SELECT id, day FROM orders WHERE day = '2024-01-02'",
        "SELECT id FROM orders WHERE day > '2023-12-30' AND day <= '2024-01-02'",
        "SELECT id, ts, day FROM orders WHERE ts IS NOT NULL AND day IS NULL",
        "SELECT id FROM orders WHERE CAST(day AS timestamp) < ts",
        "SELECT id, CAST(ts AS date) AS d, CAST(day AS timestamp) AS t FROM orders",
        // Casts that both engines round the same way.
        "SELECT id, CAST(qty AS double) AS q, CAST(status AS bigint) AS s, CAST(id AS varchar) AS t FROM orders",
        // Comments and layout.
        "SELECT id, -- the key\n       amount /* the value */\nFROM orders\nWHERE qty > 0 -- positive only\n",
    };

    [Theory]
    [MemberData(nameof(Queries))]
    public async Task Engine_and_DuckDB_agree(string sql)
    {
        var (schema, rows, deadLetters) = await Run(sql, _data.Batches);
        Assert.Equal(0, deadLetters);
        var expected = DuckDb(sql, schema, out var duckNames);
        var kinds = schema.FieldsList.Select(f => ColumnTypes.FromArrow(f.DataType)).ToArray();
        var actual = rows.Select(r => Normalize(r, kinds)).ToList();
        Assert.Equal(duckNames.Count, kinds.Length);
        foreach (var (name, duck) in schema.FieldsList.Select(f => f.Name).Zip(duckNames))
            if (!duck.Contains('(', StringComparison.Ordinal) && duck != "?column?") Assert.Equal(duck, name);
        CompareMultisets(expected, actual, sql);
    }

    [Fact]
    public void There_are_at_least_thirty_cross_checked_queries() => Assert.True(Queries.Count >= 30);

    private List<object?[]> DuckDb(string sql, Schema schema, out List<string> names)
    {
        var kinds = schema.FieldsList.Select(f => ColumnTypes.FromArrow(f.DataType)).ToArray();
        using var cmd = _data.Connection.CreateCommand();
        cmd.CommandText = sql;
        using var reader = cmd.ExecuteReader();
        names = Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToList();
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            var row = new object?[reader.FieldCount];
            for (var c = 0; c < row.Length; c++) row[c] = reader.IsDBNull(c) ? null : reader.GetValue(c);
            rows.Add(row);
        }
        return rows.Select(r => Normalize(r, kinds)).ToList();
    }

    /// <summary>One representation for both engines: long, double, string, bool, DateTime (timestamps), DateOnly (dates).</summary>
    private static object?[] Normalize(object?[] row, ColumnKind[] kinds)
    {
        var result = new object?[row.Length];
        for (var c = 0; c < row.Length; c++)
        {
            var kind = c < kinds.Length ? kinds[c] : ColumnKind.String;
            result[c] = row[c] switch
            {
                null => null,
                long v when kind == ColumnKind.Timestamp => DateTime.UnixEpoch.AddTicks(v * 10),
                int v when kind == ColumnKind.Date => DateOnly.FromDayNumber(EpochDay + v),
                DateTime v when kind == ColumnKind.Date => DateOnly.FromDateTime(v),
                DateTime v => DateTime.SpecifyKind(v, DateTimeKind.Utc),
                DateOnly v => v,
                bool v => v,
                string v => v,
                double v when kind != ColumnKind.Float64 && double.IsInteger(v) => (long)v,
                double v => v,
                float v => (double)v,
                decimal v when kind == ColumnKind.Float64 => (double)v,
                decimal v => decimal.IsInteger(v) ? (long)v : (double)v,
                BigInteger v => (long)v,
                Int128 v => (long)v,
                var v when kind == ColumnKind.Float64 => Convert.ToDouble(v, CultureInfo.InvariantCulture),
                var v => Convert.ToInt64(v, CultureInfo.InvariantCulture),
            };
        }
        return result;
    }

    private static int CompareValues(object? a, object? b)
    {
        if (a == null || b == null) return a == null ? (b == null ? 0 : -1) : 1;
        return (a, b) switch
        {
            (long x, long y) => x.CompareTo(y),
            (double x, double y) => x.CompareTo(y),
            (long x, double y) => ((double)x).CompareTo(y),
            (double x, long y) => x.CompareTo(y),
            (string x, string y) => string.CompareOrdinal(x, y),
            (bool x, bool y) => x.CompareTo(y),
            (DateTime x, DateTime y) => x.CompareTo(y),
            (DateOnly x, DateOnly y) => x.CompareTo(y),
            _ => string.CompareOrdinal(a.GetType().Name, b.GetType().Name),
        };
    }

    private static int CompareRows(object?[] a, object?[] b)
    {
        for (var c = 0; c < Math.Min(a.Length, b.Length); c++)
        {
            var r = CompareValues(a[c], b[c]);
            if (r != 0) return r;
        }
        return a.Length.CompareTo(b.Length);
    }

    private static bool Same(object? a, object? b)
    {
        if (a is double x && b is double y)
        {
            if (double.IsNaN(x) || double.IsNaN(y)) return double.IsNaN(x) && double.IsNaN(y);
            if (x == y) return true;
            return Math.Abs(x - y) <= 1e-12 * Math.Max(Math.Abs(x), Math.Abs(y));
        }
        return CompareValues(a, b) == 0 && (a == null) == (b == null);
    }

    private static void CompareMultisets(List<object?[]> expected, List<object?[]> actual, string sql)
    {
        expected.Sort(CompareRows);
        actual.Sort(CompareRows);
        Assert.True(expected.Count == actual.Count, $"{sql}\nDuckDB returned {expected.Count} rows, the engine {actual.Count}");
        for (var i = 0; i < expected.Count; i++)
        {
            var e = expected[i];
            var a = actual[i];
            var same = e.Length == a.Length && e.Zip(a).All(p => Same(p.First, p.Second));
            Assert.True(same, $"{sql}\nrow {i}: DuckDB {Show(e)} vs engine {Show(a)}");
        }
    }

    private static string Show(object?[] row) => string.Join(" | ", row.Select(v => v switch
    {
        null => "NULL",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        DateTime t => t.ToString("O", CultureInfo.InvariantCulture),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture),
    }));
}
