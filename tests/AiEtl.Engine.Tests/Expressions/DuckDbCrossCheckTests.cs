using System.Globalization;
using System.Text;
using AiEtl.Engine.Columns;
using DuckDB.NET.Data;
using static AiEtl.Engine.Tests.Expressions.ExprHarness;

namespace AiEtl.Engine.Tests.Expressions;

/// <summary>
/// Evaluates each expression over the same rows in the engine and in DuckDB and compares every row.
/// Only expressions whose PostgreSQL and DuckDB semantics agree are here; the differences are listed in
/// docs/sql-reference.md and tested with hand-checked values in the other expression tests.
/// </summary>
public sealed class DuckDbCrossCheckTests
{
    private static readonly Row[] Rows =
    [
        new(S: "hello world", T: "lo", I: 1, L: 1_700_000_000, D: 1.25, B: true, Ts: "2024-03-10T12:34:56.789Z", Dt: "2024-02-29", J: "{\"a\":\"x\",\"n\":{\"b\":[1,2]},\"z\":null}"),
        new(S: "Héllo Wörld", T: "ö", I: 0, L: 0, D: -2.75, B: false, Ts: "1969-12-31T23:59:59.999999Z", Dt: "1970-01-01", J: "{\"a\":\"é\\u00e9\"}"),
        new(),
        new(S: "", T: "", I: -5, L: -86_400, D: 0, B: null, Ts: "2024-10-27T01:30:00Z", Dt: "1999-12-31", J: "[1,\"two\",3]"),
        new(S: "  a,b,,c  ", T: ",", I: 123456, L: 42, D: 1e10, B: true, Ts: "2024-12-30T23:00:00Z", Dt: "2024-12-30", J: "{}"),
        new(S: "日本語テキスト", T: "語", I: -98765, L: -1, D: 3.5e-7, B: false, Ts: "2000-02-29T00:00:00Z", Dt: "2000-02-29", J: "{\"a\":\"\"}"),
        new(S: "👍🏽 ok_100%", T: "%", I: 7, L: 946_684_800, D: -0.001, B: true, Ts: "2021-01-01T00:00:00Z", Dt: "2021-01-03", J: "{\"a\":null}"),
        new(S: "ABC-abc-ÀÉÎ", T: "abc", I: 42, L: 1_234_567, D: 99.99, B: null, Ts: "2024-03-31T01:59:59Z", Dt: "2024-03-31", J: "{\"b\":1,\"a\":\"\\\"q\\\"\"}"),
    ];

    /// <summary>Expression in the engine's dialect, and its DuckDB spelling when that differs.</summary>
    public static TheoryData<string, string?> Cases => new()
    {
        { "i + 1", null }, { "l - i", null }, { "i * 2", null }, { "d * 2 + i", null }, { "i % 3", null }, { "-i", null }, { "abs(i)", null },
        { "l / 7", "l // 7" }, { "d / 4", null },
        { "i < 5", null }, { "s = 'hello world'", null }, { "s < t", null }, { "ts >= '2024-01-01T00:00:00Z'", "ts >= TIMESTAMPTZ '2024-01-01 00:00:00+00'" },
        { "b AND i > 0", null }, { "b OR i > 0", null }, { "NOT b", null }, { "s IS NULL", null }, { "t IS NOT NULL", null },
        { "CASE WHEN i > 0 THEN 'pos' WHEN i = 0 THEN 'zero' ELSE 'neg' END", null },
        { "CASE i WHEN 1 THEN 'one' WHEN 7 THEN 'seven' END", null },
        { "CASE WHEN b THEN d ELSE i END", null },
        { "CASE WHEN i = 0 THEN NULL ELSE l / i END", "CASE WHEN i = 0 THEN NULL ELSE l // i END" },
        { "coalesce(t, s, 'none')", null }, { "coalesce(i, l)", null }, { "coalesce(d, i, 0)", null },
        { "nullif(i, 0)", null }, { "nullif(s, '')", null },
        { "i IN (1, 7, 42)", null }, { "i IN (1, NULL)", null }, { "i NOT IN (0, 1)", null }, { "i NOT IN (0, NULL)", null },
        { "s IN ('hello world', '', 'x')", null }, { "i IN (l, 0)", null },
        { "i BETWEEN 0 AND 10", null }, { "i NOT BETWEEN 0 AND 10", null }, { "s BETWEEN 'A' AND 'i'", null },
        { "s LIKE 'h%'", null }, { "s LIKE '%o%'", null }, { "s LIKE '_é%'", null }, { "s NOT LIKE '%d'", null }, { "s LIKE '%!%' ESCAPE '!'", null },
        { "s LIKE '%a_b%'", null }, { "s ILIKE 'HELLO%'", null }, { "s ILIKE '%wö%'", null }, { "s LIKE t", null },
        { "CAST(i AS bigint)", null }, { "CAST(d AS bigint)", "CAST(d AS BIGINT)" }, { "CAST(i AS string)", "CAST(i AS VARCHAR)" }, { "i::double", "i::DOUBLE" },
        { "lower(s)", null }, { "upper(s)", null }, { "length(s)", null }, { "substring(s, 2, 3)", null }, { "substring(s, 3)", null },
        { "s || t", null }, { "s || '-' || i", null }, { "concat(s, t, i)", null }, { "concat(t, NULL, s)", null },
        { "trim(s)", null }, { "ltrim(s)", null }, { "rtrim(s)", null }, { "btrim(s, ' a')", "trim(s, ' a')" }, { "trim(both 'a' from s)", "trim(s, 'a')" },
        { "replace(s, 'l', 'LL')", null }, { "replace(s, t, '_')", null }, { "starts_with(s, 'he')", null }, { "starts_with(s, t)", null },
        { "strpos(s, 'o')", null }, { "strpos(s, t)", null }, { "position('l' IN s)", null },
        { "split_part(s, ',', 2)", null }, { "split_part(s, ' ', 1)", null }, { "split_part(s, t, 3)", null },
        { "regexp_like(s, 'l+o')", "regexp_matches(s, 'l+o')" }, { "regexp_like(s, '^[a-z ]+$')", "regexp_matches(s, '^[a-z ]+$')" },
        { "regexp_like(s, 'WORLD', 'i')", "regexp_matches(s, 'WORLD', 'i')" },
        { "regexp_replace(s, 'o', '0')", null }, { "regexp_replace(s, '[aeiou]', '_', 'g')", null }, { "regexp_replace(s, '(l+)(o)', '<\\2\\1>', 'g')", null },
        { "md5(s)", null }, { "sha256(s)", null },
        { "date_trunc('second', ts)", null }, { "date_trunc('minute', ts)", null }, { "date_trunc('hour', ts)", null }, { "date_trunc('day', ts)", null },
        { "date_trunc('week', ts)", null }, { "date_trunc('month', ts)", null }, { "date_trunc('quarter', ts)", null }, { "date_trunc('year', ts)", null },
        { "extract(year FROM ts)", null }, { "extract(month FROM ts)", null }, { "extract(day FROM ts)", null }, { "extract(hour FROM ts)", null },
        { "extract(minute FROM ts)", null }, { "extract(dow FROM ts)", null }, { "extract(isodow FROM ts)", null }, { "extract(doy FROM ts)", null },
        { "extract(week FROM ts)", null }, { "extract(quarter FROM ts)", null }, { "extract(isoyear FROM ts)", null }, { "extract(epoch FROM ts)", null },
        { "extract(year FROM dt)", null }, { "extract(dow FROM dt)", null },
        { "ts + INTERVAL '1' HOUR", null }, { "ts - INTERVAL '90 minutes'", null }, { "ts + INTERVAL '1 day'", null },
        { "dt + 1", null }, { "dt - 31", null }, { "dt - DATE '2000-01-01'", null },
        { "to_timestamp(l)", null }, { "to_timestamp(d)", null },
        { "ts AT TIME ZONE 'Europe/Paris'", null }, { "ts AT TIME ZONE 'America/New_York'", null }, { "ts AT TIME ZONE 'Asia/Kolkata'", null },
        { "extract(hour FROM ts AT TIME ZONE 'Europe/Paris')", null }, { "date_trunc('day', ts AT TIME ZONE 'America/New_York')", null },
        { "j ->> 'a'", null }, { "j -> 'n'", null }, { "j -> 'n' -> 'b' ->> 1", null }, { "j ->> 'z'", null }, { "j ->> 1", null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Engine_and_duckdb_agree(string expr, string? duckExpr)
    {
        var ours = Eval(expr, Rows);
        var kind = Bind(expr).Kind;
        var theirs = DuckDb(duckExpr ?? expr, kind);
        Assert.Equal(Rows.Length, theirs.Count);
        for (var r = 0; r < Rows.Length; r++)
        {
            var a = ours[r];
            var b = theirs[r];
            if (a is double x && b is double y)
                Assert.True(Math.Abs(x - y) <= 1e-9 * Math.Max(1, Math.Abs(x)), $"row {r}: {expr} = {x} here, {y} in DuckDB");
            else
                Assert.True(Equals(a, b), $"row {r}: {expr} = {Show(a)} here, {Show(b)} in DuckDB");
        }
    }

    private static string Show(object? v) => v == null ? "NULL" : $"{v} ({v.GetType().Name})";

    private static readonly Lazy<DuckDBConnection> Connection = new(() =>
    {
        var c = new DuckDBConnection("DataSource=:memory:");
        c.Open();
        Exec(c, "SET TimeZone = 'UTC'");
        Exec(c, "CREATE TABLE t (id INTEGER, s VARCHAR, t VARCHAR, i INTEGER, l BIGINT, d DOUBLE, b BOOLEAN, ts TIMESTAMPTZ, dt DATE, j VARCHAR)");
        var sb = new StringBuilder("INSERT INTO t VALUES ");
        for (var r = 0; r < Rows.Length; r++)
        {
            var x = Rows[r];
            static string Q(string? v) => v == null ? "NULL" : "'" + v.Replace("'", "''", StringComparison.Ordinal) + "'";
            static string N(object? v) => v == null ? "NULL" : Convert.ToString(v, CultureInfo.InvariantCulture)!;
            sb.Append(r > 0 ? ", " : "").Append(CultureInfo.InvariantCulture, $"({r}, {Q(x.S)}, {Q(x.T)}, {N(x.I)}, {N(x.L)}, {(x.D is { } d ? d.ToString("R", CultureInfo.InvariantCulture) + "::DOUBLE" : "NULL")}, ")
              .Append(x.B == null ? "NULL" : x.B.Value ? "TRUE" : "FALSE").Append(", ")
              .Append(x.Ts == null ? "NULL" : $"make_timestamptz({ParseTs(x.Ts)})").Append(", ")
              .Append(x.Dt == null ? "NULL" : $"DATE {Q(x.Dt)}").Append(", ").Append(Q(x.J)).Append(')');
        }
        Exec(c, sb.ToString());
        return c;
    });

    private static void Exec(DuckDBConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static readonly Lock Gate = new();

    /// <summary>Runs the expression in DuckDB, bringing timestamps and dates back as the harness formats them.</summary>
    private static List<object?> DuckDb(string expr, ColumnKind kind)
    {
        var select = kind switch
        {
            ColumnKind.Timestamp => $"epoch_us(({expr})::TIMESTAMP)",
            ColumnKind.Date => $"(({expr}) - DATE '1970-01-01')",
            _ => $"({expr})",
        };
        lock (Gate)
        {
            using var cmd = Connection.Value.CreateCommand();
            cmd.CommandText = $"SELECT {select} FROM t ORDER BY id";
            using var reader = cmd.ExecuteReader();
            var result = new List<object?>();
            while (reader.Read())
            {
                if (reader.IsDBNull(0)) { result.Add(null); continue; }
                var v = reader.GetValue(0);
                result.Add(kind switch
                {
                    ColumnKind.Timestamp => Normalize(Convert.ToInt64(v, CultureInfo.InvariantCulture), kind),
                    ColumnKind.Date => Normalize(Convert.ToInt32(v, CultureInfo.InvariantCulture), kind),
                    ColumnKind.Int32 or ColumnKind.Int64 => Convert.ToInt64(v, CultureInfo.InvariantCulture),
                    ColumnKind.Float64 => Convert.ToDouble(v, CultureInfo.InvariantCulture),
                    ColumnKind.Bool => Convert.ToBoolean(v, CultureInfo.InvariantCulture),
                    _ => Convert.ToString(v, CultureInfo.InvariantCulture),
                });
            }
            return result;
        }
    }
}
