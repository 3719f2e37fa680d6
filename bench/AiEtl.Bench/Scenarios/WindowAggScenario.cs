using System.Diagnostics;
using System.Globalization;
using AiEtl.Bench.Harness;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// <c>window-agg</c>: count(*), sum(amount), avg(amount) per key and 1-minute TUMBLE window over 10M events
/// (100,000 keys, slightly out of order) through the runtime with watermarks, against DuckDB's bounded
/// GROUP BY of the same rows and LINQ GroupBy, in the same run.
/// </summary>
public sealed class WindowAggScenario : IScenario
{
    public const long DefaultRows = 10_000_000;
    public const long QuickRows = 2_000_000;

    public const string Sql =
        "SELECT k, window_start, window_end, count(*) AS events, sum(amount) AS total, avg(amount) AS avg_amount " +
        "FROM events GROUP BY k, TUMBLE(ts, INTERVAL '1' MINUTE)";

    public string Name => "window-agg";

    public string Description => "count/sum/avg per key and 1-minute TUMBLE window, 100k keys, watermarks, hash edge vs duckdb, linq";

    public ScenarioReport Run(BenchOptions options, Measurer measurer)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(measurer);
        var rows = options.Rows ?? (options.Quick ? QuickRows : DefaultRows);
        var p = options.Parallelism;

        Log($"window-agg: generating {rows:N0} events in batches of {WindowAggData.BatchRows:N0}");
        var sw = Stopwatch.StartNew();
        var batches = WindowAggData.Generate(rows);
        Log($"window-agg: generated {batches.Count} batches in {sw.Elapsed.TotalSeconds:F1} s");
        try
        {
            long late = 0;
            var engine = measurer.Measure("engine", rows, () => WindowAggEngine.Run(batches, p, out late), out var expected);
            if (late != 0) throw new ResultMismatchException($"the engine reported {late} late rows; the data is built to have none");
            Log($"window-agg: engine  {CoreScenario.Rate(engine.RowsPerSecond)} rows/s (runs ms: {engine.RunsText}); {expected}");

            Measurement linq;
            {
                sw.Restart();
                var events = WindowAggData.ToEvents(batches);
                Log($"window-agg: built {events.Count:N0} row objects in {sw.Elapsed.TotalSeconds:F1} s");
                linq = measurer.Measure("linq", rows, () => WindowAggLinq.Run(events), out var r);
                Check("linq", expected, r);
                Log($"window-agg: linq    {CoreScenario.Rate(linq.RowsPerSecond)} rows/s (runs ms: {linq.RunsText})");
            }
            Measurer.Settle();

            Measurement duck;
            int duckThreads;
            {
                sw.Restart();
                using var db = new WindowAggDuckDb(batches, p);
                duckThreads = db.Threads;
                Log($"window-agg: loaded DuckDB with the appender in {sw.Elapsed.TotalSeconds:F1} s (threads = {duckThreads})");
                duck = measurer.Measure("duckdb", rows, db.Run, out var r);
                Check("duckdb", expected, r);
                Log($"window-agg: duckdb  {CoreScenario.Rate(duck.RowsPerSecond)} rows/s (runs ms: {duck.RunsText})");
            }
            return BuildReport(options, rows, batches.Count, expected, engine, [(linq, 1), (duck, duckThreads)]);
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
    }

    private static ScenarioReport BuildReport(BenchOptions options, long rows, int batchCount, WindowAggResult result,
        Measurement engine, (Measurement M, int Threads)[] peers)
    {
        var report = new ScenarioReport { Scenario = "window-agg", Rows = rows, Env = EnvInfo.Collect(options) };
        report.Engine
            .Add("rows_per_s", engine.RowsPerSecond, 0)
            .Add("alloc_bytes_per_row", engine.AllocBytesPerRow, 4)
            .Add("peak_rss_mb", engine.PeakRssMb, 1);
        AddDetails(report.Engine, engine, options.Parallelism);
        report.Engine
            .Add("vm_hwm_mb", engine.VmHwmBytes / (1024.0 * 1024.0), 1)
            .Add("late_rows", 0L)
            .Add("implementation", "runtime pipeline: in-memory source (event time, watermarks) -> hash edge on k -> WindowAggregateOperator -> null sink");
        foreach (var (m, threads) in peers)
        {
            var f = new Figures().Add("rows_per_s", m.RowsPerSecond, 0);
            AddDetails(f, m, threads);
            f.Add("alloc_bytes_per_row", m.AllocBytesPerRow, 4).Add("peak_rss_mb", m.PeakRssMb, 1);
            report.Peers.Add(m.Name, f);
            report.Ratios.Add("vs_" + m.Name, engine.RowsPerSecond / m.RowsPerSecond, 3);
        }
        var windows = (rows * WindowAggData.StepMicros + WindowAggData.WindowMicros - 1) / WindowAggData.WindowMicros;
        report.Extra.Add("query", new Figures()
            .Add("sql", Sql)
            .Add("duckdb_sql", WindowAggDuckDb.Query)
            .Add("window", "TUMBLE 1 minute, aligned to the epoch")
            .Add("keys", (long)WindowAggData.Keys)
            .Add("events_per_window", WindowAggData.WindowMicros / WindowAggData.StepMicros)
            .Add("windows_approx", windows)
            .Add("max_out_of_orderness_ms", (long)WindowAggData.MaxOutOfOrderness.TotalMilliseconds)
            .Add("jitter_ms", WindowAggData.JitterMicros / 1000)
            .Add("sink", "null sink: counts rows and sums events, total, avg_amount, k + window index")
            .Add("batch_rows", (long)WindowAggData.BatchRows)
            .Add("batches", (long)batchCount)
            .Add("input_bytes", rows * WindowAggData.BytesPerRow)
            .Add("rows_out", result.Rows)
            .Add("sum_events", result.Events)
            .Add("sum_total", result.Total, 2)
            .Add("sum_avg", result.AvgSum, 6)
            .Add("sum_key_window", result.KeyWindowSum)
            .Add("verified_equal", "engine, linq, duckdb (rows, Σevents, Σtotal, Σ(k + window) exactly; Σavg to 1e-9)"));
        report.Extra.Add("per_cpu", new Figures()
            .Add("engine_rows_per_cpu_s", engine.RowsPerCpuSecond, 0)
            .Add("vs_duckdb_per_cpu", engine.RowsPerCpuSecond / peers.First(x => x.M.Name == "duckdb").M.RowsPerCpuSecond, 3)
            .Add("vs_linq_per_cpu", engine.RowsPerCpuSecond / peers.First(x => x.M.Name == "linq").M.RowsPerCpuSecond, 3));

        var table = new Table("contestant", "threads", "best ms", "median ms", "rows/s", "rows/s median", "rows/cpu-s",
            "alloc B/row", "peak RSS MB", "engine ÷");
        table.Row(Cells(engine, options.Parallelism, engine));
        foreach (var (m, threads) in peers) table.Row(Cells(m, threads, engine));
        report.Table = table;
        report.Notes.Add($"events {rows:N0} in {batchCount} batches; {result}");
        report.Notes.Add("results equal across engine, linq, duckdb; the engine emits each window when the watermark passes it and frees its groups, duckdb and linq hold every group of the bounded input");
        report.Notes.Add("rows/s = input events per second, best of the timed runs; peak RSS = largest VmRSS sampled during that contestant's runs (the whole process, input included)");
        return report;
    }

    private static void AddDetails(Figures f, Measurement m, int threads) => f
        .Add("rows_per_s_median", m.RowsPerSecondMedian, 0)
        .Add("wall_ms_best", m.Best.WallSeconds * 1e3, 2)
        .Add("wall_ms_median", m.MedianWallSeconds * 1e3, 2)
        .Add("cpu_s_best", m.Best.CpuSeconds, 3)
        .Add("rows_per_cpu_s", m.RowsPerCpuSecond, 0)
        .Add("threads", (long)threads);

    private static string[] Cells(Measurement m, int threads, Measurement engine) =>
    [
        m.Name,
        threads.ToString(CultureInfo.InvariantCulture),
        (m.Best.WallSeconds * 1e3).ToString("F1", CultureInfo.InvariantCulture),
        (m.MedianWallSeconds * 1e3).ToString("F1", CultureInfo.InvariantCulture),
        CoreScenario.Rate(m.RowsPerSecond),
        CoreScenario.Rate(m.RowsPerSecondMedian),
        CoreScenario.Rate(m.RowsPerCpuSecond),
        m.AllocBytesPerRow.ToString("F3", CultureInfo.InvariantCulture),
        m.PeakRssMb.ToString("F0", CultureInfo.InvariantCulture),
        ReferenceEquals(m, engine) ? "—" : (engine.RowsPerSecond / m.RowsPerSecond).ToString("F2", CultureInfo.InvariantCulture) + "×",
    ];

    private static void Check(string name, WindowAggResult expected, WindowAggResult actual)
    {
        if (!expected.Matches(actual))
            throw new ResultMismatchException($"{name} disagrees with the engine: {actual} vs {expected}");
    }

    private static void Log(string line) => Console.Error.WriteLine(line);
}
