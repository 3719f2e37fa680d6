using System.Diagnostics;
using System.Globalization;
using AiEtl.Bench.Harness;
using AiEtl.Engine;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// <c>core</c>: filter + project over in-memory Arrow batches,
/// <c>SELECT id, customer_id, amount * qty AS total, ts FROM t WHERE status &lt; 5</c> into a null sink,
/// engine against LINQ, TPL Dataflow, DuckDB and a plain memory copy on the same rows in the same run.
/// </summary>
public sealed class CoreScenario : IScenario
{
    public const long DefaultRows = 10_000_000;
    public const long QuickRows = 2_000_000;

    public string Name => "core";

    public string Description =>
        "filter + project over 8-column Arrow batches (status < 5, amount * qty) vs linq, dataflow, duckdb, memcpy";

    public ScenarioReport Run(BenchOptions options, Measurer measurer)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(measurer);
        var rows = options.Rows ?? (options.Quick ? QuickRows : DefaultRows);
        var p = options.Parallelism;

        Log($"core: generating {rows:N0} rows in batches of {CoreData.BatchRows:N0} (8 columns, no nulls)");
        var sw = Stopwatch.StartNew();
        var batches = CoreData.Generate(rows);
        Log($"core: generated {batches.Count} batches in {sw.Elapsed.TotalSeconds:F1} s");
        try
        {
            // The engine goes first, before any peer data exists, so its RSS window holds only the input.
            var engine = measurer.Measure("engine", rows, () => CoreEngine.Run(batches, p), out var expected);
            Log($"core: engine    {Rate(engine.RowsPerSecond)} rows/s (runs ms: {engine.RunsText}), {expected.Rows:N0} rows out, checksum {expected.Checksum:R}");

            // The same query written in SQL and planned from a pipeline spec: must run as fast as the hand-built chain.
            var sqlPlan = CoreEngineSql.Plan(batches, p, new CoreEngine.CountingSink());
            Log($"core: SQL plan:\n{sqlPlan.Explain()}");
            var engineSql = measurer.Measure("engine_sql", rows, () => CoreEngineSql.Run(batches, p), out var sqlResult);
            Check("engine_sql", expected, sqlResult);
            Log($"core: engine (SQL) {Rate(engineSql.RowsPerSecond)} rows/s (runs ms: {engineSql.RunsText}), {engineSql.RowsPerSecond / engine.RowsPerSecond:F3}x the chain");

            // On a shared machine back-to-back measurements drift with the load: also alternate the two, run for run.
            var (pairedChain, pairedSql) = Interleaved(batches, p, options.Quick ? 5 : 11);
            Log($"core: interleaved x{pairedChain.Length}: chain median {Median(pairedChain) * 1e3:F1} ms, SQL median {Median(pairedSql) * 1e3:F1} ms, SQL ÷ chain (rows/s) {Median(pairedChain) / Median(pairedSql):F3}");

            // The same job with logging and the metrics collector on (aietl run's defaults plus --metrics-port).
            var observed = measurer.Measure("engine_observed", rows, () => CoreEngine.Run(batches, p, observed: true), out var observedResult);
            Check("engine_observed", expected, observedResult);
            Log($"core: engine with logging + metrics collector {Rate(observed.RowsPerSecond)} rows/s (runs ms: {observed.RunsText})");
            var ab = AlternatePlainObserved(batches, p, pairs: Math.Max(24, options.Runs ?? 0));
            Log($"core: plain/observed alternated {ab.Pairs} times: median ms plain {ab.PlainMedianMs:F1}, observed {ab.ObservedMedianMs:F1} (observed ÷ plain time {ab.ObservedMedianMs / ab.PlainMedianMs:F3}; " +
                $"first quartile {ab.PlainQ1Ms:F1} / {ab.ObservedQ1Ms:F1} ms = {ab.ObservedQ1Ms / ab.PlainQ1Ms:F3}; median of the per-pair ratios {ab.PairedRatioMedian:F3})");

            var hand = measurer.Measure("hand_kernel", rows, () => CoreHandKernel.Run(batches, p), out var handResult);
            Check("hand_kernel", expected, handResult);
            Log($"core: hand kernel {Rate(hand.RowsPerSecond)} rows/s (runs ms: {hand.RunsText})");

            Measurement linq, dataflow;
            {
                sw.Restart();
                var orders = CoreData.ToOrders(batches);
                var chunks = CoreDataflow.Chunk(orders);
                Log($"core: built {orders.Count:N0} row objects in {sw.Elapsed.TotalSeconds:F1} s");
                linq = measurer.Measure("linq", rows, () => CoreLinq.Run(orders), out var r);
                Check("linq", expected, r);
                Log($"core: linq      {Rate(linq.RowsPerSecond)} rows/s (runs ms: {linq.RunsText})");
                dataflow = measurer.Measure("dataflow", rows, () => CoreDataflow.Run(chunks, p), out r);
                Check("dataflow", expected, r);
                Log($"core: dataflow  {Rate(dataflow.RowsPerSecond)} rows/s (runs ms: {dataflow.RunsText})");
            }
            Measurer.Settle(); // the row objects are garbage from here on

            Measurement duck, duckAll;
            int duckThreads;
            {
                sw.Restart();
                using var db = new CoreDuckDb(batches, p);
                duckThreads = db.Threads;
                Log($"core: loaded DuckDB with the appender in {sw.Elapsed.TotalSeconds:F1} s (threads = {duckThreads})");
                duck = measurer.Measure("duckdb", rows, db.Run, out var r);
                Check("duckdb", expected, r);
                Log($"core: duckdb    {Rate(duck.RowsPerSecond)} rows/s (runs ms: {duck.RunsText})");
                duckAll = measurer.Measure("duckdb_all_columns", rows, () => db.Run(CoreDuckDb.AllColumnsQuery), out r);
                Check("duckdb (all columns)", expected, r);
                Log($"core: duckdb, all projected columns aggregated: {Rate(duckAll.RowsPerSecond)} rows/s (runs ms: {duckAll.RunsText})");
            }

            Measurement memcpy;
            long copied;
            {
                using var copy = new CoreMemcpy(batches);
                copied = copy.Bytes;
                memcpy = measurer.Measure("memcpy", rows, () => copy.Run(p), out _);
                Log($"core: memcpy    {Rate(memcpy.RowsPerSecond)} rows/s (runs ms: {memcpy.RunsText})");
            }

            var report = BuildReport(options, rows, batches.Count, expected, engine,
                [(engineSql, p), (linq, 1), (dataflow, p), (duck, duckThreads), (memcpy, p), (hand, p), (observed, p)], duckAll, copied, (pairedChain, pairedSql));
            report.Extra.Add("observability", new Figures()
                .Add("what", "engine_observed = the engine run with console logging at Information (scopes on; one logger factory per process) and the Prometheus collector (a MeterListener on every instrument of the run) attached; alternated with plain runs, the order flipping every pair (plain/observed, observed/plain, ...)")
                .Add("alternated_pairs", (long)ab.Pairs)
                .Add("plain_median_ms", ab.PlainMedianMs, 1)
                .Add("observed_median_ms", ab.ObservedMedianMs, 1)
                .Add("plain_best_ms", ab.PlainBestMs, 1)
                .Add("observed_best_ms", ab.ObservedBestMs, 1)
                .Add("observed_time_ratio_median", ab.ObservedMedianMs / ab.PlainMedianMs, 3)
                .Add("observed_time_ratio_best", ab.ObservedBestMs / ab.PlainBestMs, 3)
                .Add("plain_q1_ms", ab.PlainQ1Ms, 1)
                .Add("observed_q1_ms", ab.ObservedQ1Ms, 1)
                .Add("observed_time_ratio_q1", ab.ObservedQ1Ms / ab.PlainQ1Ms, 3)
                .Add("observed_time_ratio_paired_median", ab.PairedRatioMedian, 3)
                .Add("plain_runs_ms", ab.PlainRunsMs)
                .Add("observed_runs_ms", ab.ObservedRunsMs));
            report.Ratios.Add("observability_cost", ab.ObservedMedianMs / ab.PlainMedianMs, 3);
            // The same judged pair by pair: each pair's runs are back to back, so load drifting between pairs cancels out.
            report.Ratios.Add("observability_cost_paired", ab.PairedRatioMedian, 3);
            return report;
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
    }

    private sealed record AbResult(int Pairs, double PlainMedianMs, double ObservedMedianMs, double PlainBestMs, double ObservedBestMs,
        double PairedRatioMedian, double PlainQ1Ms, double ObservedQ1Ms, string PlainRunsMs, string ObservedRunsMs);

    /// <summary>
    /// Plain and observed runs alternated so that both see the same machine load, the order flipping every pair
    /// (plain, observed, observed, plain, …) so that neither always runs first; the medians are what the
    /// "no measurable cost" target is judged on. Also the median of the per-pair ratios (each pair's two runs are
    /// back to back, so a drifting load cancels out of it) and the first quartiles (the less disturbed runs).
    /// </summary>
    private static AbResult AlternatePlainObserved(IReadOnlyList<AiEtl.Engine.Batch> batches, int p, int pairs)
    {
        var plain = new List<double>();
        var observed = new List<double>();
        for (var i = 0; i < pairs; i++)
        {
            for (var k = 0; k < 2; k++)
            {
                var isObserved = (k == 1) == (i % 2 == 0);
                var sw = Stopwatch.StartNew();
                CoreEngine.Run(batches, p, observed: isObserved);
                (isObserved ? observed : plain).Add(sw.Elapsed.TotalMilliseconds);
            }
        }
        static double Median(IEnumerable<double> v) { var o = v.Order().ToList(); return o.Count % 2 == 1 ? o[o.Count / 2] : (o[o.Count / 2 - 1] + o[o.Count / 2]) / 2; }
        static double Q1(List<double> v) => v.Order().ElementAt(v.Count / 4);
        static string Text(List<double> v) => string.Join(" ", v.Select(x => x.ToString("F1", CultureInfo.InvariantCulture)));
        return new AbResult(pairs, Median(plain), Median(observed), plain.Min(), observed.Min(),
            Median(plain.Zip(observed, (a, b) => b / a)), Q1(plain), Q1(observed), Text(plain), Text(observed));
    }

    private static ScenarioReport BuildReport(BenchOptions options, long rows, int batchCount, (long Rows, double Checksum) result,
        Measurement engine, (Measurement M, int Threads)[] peers, Measurement duckAll, long memcpyBytes, (double[] Chain, double[] Sql) paired)
    {
        var report = new ScenarioReport { Scenario = "core", Rows = rows, Env = EnvInfo.Collect(options) };
        report.Engine
            .Add("rows_per_s", engine.RowsPerSecond, 0)
            .Add("alloc_bytes_per_row", engine.AllocBytesPerRow, 4)
            .Add("peak_rss_mb", engine.PeakRssMb, 1);
        AddDetails(report.Engine, engine, options.Parallelism);
        report.Engine
            .Add("vm_hwm_mb", engine.VmHwmBytes / (1024.0 * 1024.0), 1)
            .Add("implementation", "runtime pipeline (bench/AiEtl.Bench/Scenarios/CoreEngine.cs): JobRunner, in-memory source, FilterProjectOperator (constant filter -> selection kernels, fused gather+multiply), null sink, one fused task per source reader");

        foreach (var (m, threads) in peers)
        {
            var f = new Figures().Add("rows_per_s", m.RowsPerSecond, 0);
            AddDetails(f, m, threads);
            f.Add("alloc_bytes_per_row", m.AllocBytesPerRow, 4).Add("peak_rss_mb", m.PeakRssMb, 1);
            if (m.Name == "duckdb")
            {
                f.Add("all_columns_rows_per_s", duckAll.RowsPerSecond, 0)
                 .Add("all_columns_rows_per_s_median", duckAll.RowsPerSecondMedian, 0);
            }
            if (m.Name == "memcpy")
            {
                f.Add("bytes_per_run", memcpyBytes)
                 .Add("copy_gb_per_s", memcpyBytes / m.Best.WallSeconds / 1e9, 2);
            }
            report.Peers.Add(m.Name, f);
            report.Ratios.Add("vs_" + m.Name, engine.RowsPerSecond / m.RowsPerSecond, 3);
        }
        report.Ratios.Add("vs_duckdb_all_columns", engine.RowsPerSecond / duckAll.RowsPerSecond, 3);
        var sql = peers.First(x => x.M.Name == "engine_sql").M;
        report.Ratios.Add("sql_vs_chain", sql.RowsPerSecond / engine.RowsPerSecond, 3);
        report.Ratios.Add("sql_vs_chain_median", sql.RowsPerSecondMedian / engine.RowsPerSecondMedian, 3);
        report.Ratios.Add("sql_vs_chain_interleaved", Median(paired.Chain) / Median(paired.Sql), 3);
        report.Extra.Add("sql_vs_chain_interleaved", new Figures()
            .Add("pairs", (long)paired.Chain.Length)
            .Add("chain_ms_median", Median(paired.Chain) * 1e3, 2)
            .Add("sql_ms_median", Median(paired.Sql) * 1e3, 2)
            .Add("chain_ms_best", paired.Chain.Min() * 1e3, 2)
            .Add("sql_ms_best", paired.Sql.Min() * 1e3, 2)
            .Add("ratio_of_medians", Median(paired.Chain) / Median(paired.Sql), 3)
            .Add("ratio_of_bests", paired.Chain.Min() / paired.Sql.Min(), 3));

        report.Extra.Add("query", new Figures()
            .Add("sql", "SELECT id, customer_id, amount * qty AS total, ts FROM t WHERE status < 5")
            .Add("duckdb_sql", CoreDuckDb.Query)
            .Add("duckdb_all_columns_sql", CoreDuckDb.AllColumnsQuery)
            .Add("sink", "null sink: counts rows and sums total")
            .Add("columns", 8L)
            .Add("nulls", false)
            .Add("batch_rows", (long)CoreData.BatchRows)
            .Add("batches", (long)batchCount)
            .Add("input_bytes", rows * CoreData.BytesPerRow)
            .Add("rows_out", result.Rows)
            .Add("selectivity", (double)result.Rows / rows, 4)
            .Add("checksum", result.Checksum, 2)
            .Add("verified_equal", "engine, engine_sql, engine_observed, linq, dataflow, duckdb, duckdb_all_columns"));
        report.Extra.Add("per_cpu", new Figures()
            .Add("engine_rows_per_cpu_s", engine.RowsPerCpuSecond, 0)
            .Add("vs_duckdb_per_cpu", engine.RowsPerCpuSecond / peers.First(x => x.M.Name == "duckdb").M.RowsPerCpuSecond, 3)
            .Add("vs_linq_per_cpu", engine.RowsPerCpuSecond / peers.First(x => x.M.Name == "linq").M.RowsPerCpuSecond, 3));

        var table = new Table("contestant", "threads", "best ms", "median ms", "rows/s", "rows/s median", "rows/cpu-s",
            "alloc B/row", "peak RSS MB", "engine ÷");
        table.Row(Cells(engine, options.Parallelism, engine));
        foreach (var (m, threads) in peers)
        {
            table.Row(Cells(m, threads, engine));
            if (m.Name == "duckdb") table.Row(Cells(duckAll, threads, engine));
        }
        report.Table = table;
        report.Notes.Add($"rows {rows:N0} in {batchCount} batches of {CoreData.BatchRows:N0}; {result.Rows:N0} rows out; checksum {result.Checksum.ToString("R", CultureInfo.InvariantCulture)} (equal across engine, engine_sql, linq, dataflow, duckdb, duckdb_all_columns)");
        report.Notes.Add("duckdb prunes the columns its outer aggregate never reads (it scans status, amount, qty); duckdb_all_columns also takes max(id), max(customer_id), max(ts), columns the engine carries to its sink");
        report.Notes.Add("rows/s from the best of the timed runs; median kept beside it; peak RSS = largest VmRSS sampled during that contestant's runs (the whole process, input included)");
        report.Notes.Add("engine = the runtime pipeline (JobRunner + FilterProjectOperator, expressions compiled from text); hand_kernel = the hand-written fused kernel for this one query, no runtime (the ceiling)");
        report.Notes.Add($"engine_sql = the same query as SQL ({CoreEngineSql.Sql}) planned from a pipeline spec by the SQL planner, same runtime and null sink; ratios.sql_vs_chain = engine_sql rows/s ÷ engine rows/s (target ≥ 0.9)");
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
        Rate(m.RowsPerSecond),
        Rate(m.RowsPerSecondMedian),
        Rate(m.RowsPerCpuSecond),
        m.AllocBytesPerRow.ToString("F3", CultureInfo.InvariantCulture),
        m.PeakRssMb.ToString("F0", CultureInfo.InvariantCulture),
        ReferenceEquals(m, engine) ? "—" : (engine.RowsPerSecond / m.RowsPerSecond).ToString("F2", CultureInfo.InvariantCulture) + "×",
    ];

    /// <summary>Alternates the chain and the SQL pipeline run for run (after one warmup each); wall seconds of each.</summary>
    private static (double[] Chain, double[] Sql) Interleaved(IReadOnlyList<AiEtl.Engine.Batch> batches, int p, int pairs)
    {
        CoreEngine.Run(batches, p);
        CoreEngineSql.Run(batches, p);
        var chain = new double[pairs];
        var sql = new double[pairs];
        for (var i = 0; i < pairs; i++)
        {
            var sw = Stopwatch.StartNew();
            CoreEngine.Run(batches, p);
            chain[i] = sw.Elapsed.TotalSeconds;
            sw.Restart();
            CoreEngineSql.Run(batches, p);
            sql[i] = sw.Elapsed.TotalSeconds;
        }
        return (chain, sql);
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    internal static string Rate(double perSecond) => perSecond switch
    {
        >= 1e9 => (perSecond / 1e9).ToString("F2", CultureInfo.InvariantCulture) + "G",
        >= 1e6 => (perSecond / 1e6).ToString("F1", CultureInfo.InvariantCulture) + "M",
        >= 1e3 => (perSecond / 1e3).ToString("F1", CultureInfo.InvariantCulture) + "k",
        _ => perSecond.ToString("F0", CultureInfo.InvariantCulture),
    };

    /// <summary>Fails the run loudly when a contestant's answer differs from the engine's.</summary>
    private static void Check(string name, (long Rows, double Checksum) expected, (long Rows, double Checksum) actual)
    {
        if (actual.Rows != expected.Rows || actual.Checksum != expected.Checksum)
        {
            throw new ResultMismatchException(
                $"{name} disagrees with the engine: rows {actual.Rows:N0} vs {expected.Rows:N0}, " +
                $"checksum {actual.Checksum.ToString("R", CultureInfo.InvariantCulture)} vs {expected.Checksum.ToString("R", CultureInfo.InvariantCulture)}");
        }
    }

    private static void Log(string line) => Console.Error.WriteLine(line);
}

/// <summary>Contestants produced different answers: the figures would be meaningless.</summary>
public sealed class ResultMismatchException(string message) : Exception(message);
