using AiEtl.Engine;
using DuckDB.NET.Data;

namespace AiEtl.Bench.Scenarios;

/// <summary>Plain LINQ GroupBy over objects, one thread.</summary>
public static class WindowAggLinq
{
    public static WindowAggResult Run(List<WindowEvent> events)
    {
        long rows = 0, count = 0, keyWindow = 0;
        double total = 0, avg = 0;
        foreach (var g in events.GroupBy(e => (e.K, Window: e.Ts / WindowAggData.WindowMicros)))
        {
            rows++;
            count += g.Count();
            total += g.Sum(e => e.Amount);
            avg += g.Average(e => e.Amount);
            keyWindow += g.Key.K + g.Key.Window;
        }
        return new WindowAggResult(rows, count, total, avg, keyWindow);
    }
}

/// <summary>
/// DuckDB in memory, the same rows loaded with the appender (not timed), <c>ts</c> as BIGINT microseconds;
/// the timed query groups by key and epoch-floored minute (bounded input, all groups at once) and ends in
/// an aggregate, so no rows ship to .NET.
/// </summary>
public sealed class WindowAggDuckDb : IDisposable
{
    public const string InnerQuery =
        "SELECT k, ts // 60000000 * 60000000 AS window_start, count(*) AS events, sum(amount) AS total, avg(amount) AS avg_amount FROM t GROUP BY k, window_start";

    public const string Query =
        "SELECT count(*), sum(events)::BIGINT, sum(total), sum(avg_amount), sum(k + window_start // 60000000)::BIGINT FROM (" + InnerQuery + ")";

    private readonly DuckDBConnection _connection;

    public WindowAggDuckDb(IReadOnlyList<Batch> batches, int threads)
    {
        _connection = new DuckDBConnection("Data Source=:memory:");
        _connection.Open();
        Execute("CREATE TABLE t (k BIGINT, ts BIGINT, amount DOUBLE)");
        using (var appender = _connection.CreateAppender("t"))
        {
            foreach (var b in batches)
            {
                var k = CoreData.Int64(b, WindowAggData.K);
                var ts = CoreData.Int64(b, WindowAggData.Ts);
                var amount = CoreData.Float64(b, WindowAggData.Amount);
                for (var i = 0; i < b.Length; i++)
                    appender.CreateRow().AppendValue(k[i]).AppendValue(ts[i]).AppendValue(amount[i]).EndRow();
            }
        }
        Execute($"SET threads = {threads}");
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = "SELECT current_setting('threads')";
        Threads = Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public int Threads { get; }

    public WindowAggResult Run()
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = Query;
        using var reader = cmd.ExecuteReader();
        if (!reader.Read()) throw new InvalidOperationException("DuckDB returned no row");
        return new WindowAggResult(reader.GetInt64(0), reader.GetInt64(1), reader.GetDouble(2), reader.GetDouble(3), reader.GetInt64(4));
    }

    private void Execute(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Dispose() => _connection.Dispose();
}
