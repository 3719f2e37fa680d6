using System.Diagnostics;
using System.Globalization;
using AiEtl.Bench.Harness;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// <c>slow-sink</c>: an unbounded generator at full speed → filter + select → a sink that sleeps 20 ms per
/// 8192 rows, for 60 s (quick: 20 s). The engine's credit-bounded edge must keep RSS flat (last 10-s window
/// within 10% of the first after warm-up) while the source spends most of its time blocked on backpressure;
/// the peer puts the same producer and consumer around an unbounded channel and runs until it passes 2 GB.
/// </summary>
public sealed class SlowSinkScenario : IScenario
{
    public string Name => "slow-sink";

    public string Description =>
        "unbounded generator -> filter/select -> sink sleeping 20 ms per 8192 rows for 60 s: RSS flat under backpressure vs an unbounded channel";

    public ScenarioReport Run(BenchOptions options, Measurer measurer)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(measurer);
        var setup = new SlowSinkSetup
        {
            Parallelism = options.Parallelism,
            Duration = TimeSpan.FromSeconds(options.Quick ? 20 : 60),
            Warmup = TimeSpan.FromSeconds(options.Quick ? 2 : 5),
            PeerMaxDuration = TimeSpan.FromSeconds(options.Quick ? 10 : 20),
        };
        using var rss = new VmRssReader();
        if (!rss.Available) Log("slow-sink: /proc/self/status is not readable here: RSS figures will be 0");
        if (options.Rows != null || options.Runs != null) Log("slow-sink: --rows and --runs do not apply (the scenario runs for a fixed time)");

        Log($"slow-sink: engine for {setup.Duration.TotalSeconds:F0} s, parallelism {setup.Parallelism}, edge limits {setup.EdgeLimits.MaxRows:N0} rows / {setup.EdgeLimits.MaxBytes >> 20} MiB");
        var engine = SlowSinkRuns.RunEngine(setup, rss, measurer.Sampler, Log);
        Log($"slow-sink: engine stopped; drained in {engine.DrainMs:F0} ms ({engine.DrainCheck})");
        var engineVmHwm = RssSampler.ReadVmHwm();

        Log($"slow-sink: unbounded_channel for up to {setup.PeerMaxDuration.TotalSeconds:F0} s or {setup.PeerRssLimitBytes >> 20} MB RSS");
        var peer = SlowSinkRuns.RunUnboundedChannel(setup, rss, measurer.Sampler, Log);
        Log($"slow-sink: unbounded_channel stopped after {peer.EndSeconds:F1} s ({peer.StopReason}), {peer.QueuedRowsAtStop:N0} rows queued");
        Measurer.Settle();

        var e = Window.Analyze(engine, setup);
        var p = Window.Analyze(peer, setup);
        return BuildReport(options, setup, engine, e, peer, p, engineVmHwm);
    }

    private static ScenarioReport BuildReport(BenchOptions options, SlowSinkSetup setup, SlowSinkRun engine, Window e, SlowSinkRun peer, Window p, long engineVmHwm)
    {
        var result = engine.Result!;
        var report = new ScenarioReport { Scenario = "slow-sink", Rows = result.SourceRows, Env = EnvInfo.Collect(options) };
        report.Engine
            .Add("rows_per_s", e.SinkRowsPerSecond, 0)
            .Add("alloc_bytes_per_row", e.AllocBytesPerSourceRow, 4)
            .Add("peak_rss_mb", Mb(engine.PeakRssBytes), 1)
            .Add("rss_first_window_mb", Mb(e.FirstPeak), 1)
            .Add("rss_last_window_mb", Mb(e.LastPeak), 1)
            .Add("rss_growth", e.Growth, 4)
            .Add("backpressure_fraction", e.BlockedFraction, 4)
            .Add("rss_flat_within_10pct", e.Growth <= 1.10)
            .Add("rss_growth_mb_per_min", e.GrowthMbPerMinute, 2)
            .Add("pool_first_window_mb", Mb(e.PoolFirstPeak), 1)
            .Add("pool_last_window_mb", Mb(e.PoolLastPeak), 1)
            .Add("gc_gen0_collections", (long)e.Gen0Collections)
            .Add("allocated_mb", Mb(e.AllocatedBytes), 1)
            .Add("source_rows_per_s", e.SourceRowsPerSecond, 0)
            .Add("source_rows", result.SourceRows)
            .Add("sink_rows", result.SinkRows)
            .Add("run_s", engine.EndSeconds, 2)
            .Add("warmup_s", e.Warmup, 2)
            .Add("window_s", e.WindowSeconds, 2)
            .Add("first_window", e.FirstText)
            .Add("last_window", e.LastText)
            .Add("stop", "graceful (JobRunner.RunAsync stop token)")
            .Add("drained", engine.Drained)
            .Add("drain_ms", engine.DrainMs, 1)
            .Add("checkpoints", result.CheckpointsCompleted)
            .Add("threads", (long)engine.Threads)
            .Add("edge_max_rows", setup.EdgeLimits.MaxRows)
            .Add("edge_max_bytes", setup.EdgeLimits.MaxBytes)
            .Add("vm_hwm_mb", Mb(engineVmHwm), 1);

        var pf = new Figures()
            .Add("rows_per_s", p.SinkRowsPerSecond, 0)
            .Add("alloc_bytes_per_row", p.AllocBytesPerSourceRow, 4)
            .Add("peak_rss_mb", Mb(peer.PeakRssBytes), 1)
            .Add("rss_first_window_mb", Mb(p.FirstPeak), 1)
            .Add("rss_last_window_mb", Mb(p.LastPeak), 1)
            .Add("rss_growth", p.Growth, 4)
            .Add("rss_growth_mb_per_min", p.GrowthMbPerMinute, 2)
            .Add("pool_first_window_mb", Mb(p.PoolFirstPeak), 1)
            .Add("pool_last_window_mb", Mb(p.PoolLastPeak), 1)
            .Add("gc_gen0_collections", (long)p.Gen0Collections)
            .Add("allocated_mb", Mb(p.AllocatedBytes), 1)
            .Add("source_rows_per_s", p.SourceRowsPerSecond, 0)
            .Add("run_s", peer.EndSeconds, 2)
            .Add("warmup_s", p.Warmup, 2)
            .Add("window_s", p.WindowSeconds, 2)
            .Add("first_window", p.FirstText)
            .Add("last_window", p.LastText)
            .Add("stop_reason", peer.StopReason)
            .Add("queued_rows_at_stop", peer.QueuedRowsAtStop)
            .Add("queued_batches_at_stop", peer.QueuedBatchesAtStop)
            .Add("threads", (long)peer.Threads);
        report.Peers.Add("unbounded_channel", pf);

        report.Ratios
            .Add("vs_unbounded_channel", e.SinkRowsPerSecond / p.SinkRowsPerSecond, 3)
            .Add("peak_rss_vs_unbounded_channel", (double)engine.PeakRssBytes / peer.PeakRssBytes, 3)
            .Add("rss_growth_vs_unbounded_channel", e.Growth / p.Growth, 3);

        report.Extra.Add("pipeline", new Figures()
            .Add("source", "generator orders, unbounded, full speed, 8192-row batches")
            .Add("filter", SlowSinkSetup.Filter)
            .Add("select", string.Join(", ", SlowSinkSetup.Select))
            .Add("sink", $"sleeps {setup.SinkDelayPer8192Rows.TotalMilliseconds:F0} ms per 8192 rows (pro rata per batch)")
            .Add("graph", "source vertex [filter+project] -> forward edge -> sink vertex [sink], parallelism " + setup.Parallelism.ToString(CultureInfo.InvariantCulture))
            .Add("sample_period_ms", setup.SamplePeriod.TotalMilliseconds, 0)
            .Add("rss_source", "VmRSS from /proc/self/status"));
        report.Extra.Add("rss_by_10s_mb", new Figures()
            .Add("engine", Buckets(engine))
            .Add("unbounded_channel", Buckets(peer)));

        var table = new Table("contestant", "threads", "run s", "sink rows/s", "source rows/s", "peak RSS MB",
            "RSS first window MB", "RSS last window MB", "growth", "backpressure", "alloc B/row", "pool MB first→last", "gen0 GCs");
        table.Row(Cells(engine, e));
        table.Row(Cells(peer, p));
        report.Table = table;
        report.Notes.Add($"windows (peak VmRSS, sampled every {setup.SamplePeriod.TotalMilliseconds:F0} ms): engine first {e.FirstText}, last {e.LastText}; unbounded_channel first {p.FirstText}, last {p.LastText}");
        report.Notes.Add($"engine: RSS growth {e.Growth:F3} ({(e.Growth <= 1.10 ? "flat within 10%" : "NOT flat within 10%")}), source blocked on backpressure {e.BlockedFraction:P1} of the time; " +
            $"graceful stop drained in {engine.DrainMs:F0} ms: {engine.DrainCheck}");
        report.Notes.Add($"unbounded_channel: stopped by {peer.StopReason} after {peer.EndSeconds:F1} s with {peer.QueuedRowsAtStop:N0} rows ({peer.QueuedBatchesAtStop:N0} batches) queued, RSS growing {p.GrowthMbPerMinute:F0} MB/min");
        report.Notes.Add("RSS by 10 s (MB): engine " + BucketText(engine) + "; unbounded_channel " + BucketText(peer));
        report.Notes.Add("rows/s = rows through the sink after warm-up; alloc B/row = bytes allocated after warm-up ÷ source rows");
        report.Notes.Add("pool = native memory of the shared BufferPool (the batches' column data, rented + pooled); gen0 GCs = collections after warm-up: " +
            "without one, every managed byte allocated (allocated_mb) is still resident, so RSS rises by about the allocation rate until the first collection");
        return report;
    }

    private static string[] Cells(SlowSinkRun run, Window w) =>
    [
        run.Name,
        run.Threads.ToString(CultureInfo.InvariantCulture),
        run.EndSeconds.ToString("F1", CultureInfo.InvariantCulture),
        CoreScenario.Rate(w.SinkRowsPerSecond),
        CoreScenario.Rate(w.SourceRowsPerSecond),
        Mb(run.PeakRssBytes).ToString("F0", CultureInfo.InvariantCulture),
        Mb(w.FirstPeak).ToString("F0", CultureInfo.InvariantCulture),
        Mb(w.LastPeak).ToString("F0", CultureInfo.InvariantCulture),
        w.Growth.ToString("F3", CultureInfo.InvariantCulture) + "×",
        run.Name == "engine" ? w.BlockedFraction.ToString("P1", CultureInfo.InvariantCulture) : "—",
        w.AllocBytesPerSourceRow.ToString("F3", CultureInfo.InvariantCulture),
        Mb(w.PoolFirstPeak).ToString("F0", CultureInfo.InvariantCulture) + "→" + Mb(w.PoolLastPeak).ToString("F0", CultureInfo.InvariantCulture),
        w.Gen0Collections.ToString(CultureInfo.InvariantCulture),
    ];

    /// <summary>Peak RSS per 10 s of the measured run; a tail shorter than 1 s (the stop sample) joins the bucket before it.</summary>
    private static IEnumerable<(string Key, long Peak)> BucketPeaks(SlowSinkRun run)
    {
        var last = (int)(run.EndSeconds / 10);
        if (last > 0 && run.EndSeconds - last * 10 < 1) last--;
        return run.Samples.Where(s => s.Seconds <= run.EndSeconds)
            .GroupBy(s => Math.Min((int)(s.Seconds / 10), last))
            .OrderBy(g => g.Key)
            .Select(g => ($"{g.Key * 10}_{g.Key * 10 + 10}s", g.Max(s => s.RssBytes)));
    }

    private static Figures Buckets(SlowSinkRun run)
    {
        var f = new Figures();
        foreach (var (key, peak) in BucketPeaks(run)) f.Add(key, Mb(peak), 1);
        return f;
    }

    private static string BucketText(SlowSinkRun run) =>
        string.Join(" ", BucketPeaks(run).Select(b => Mb(b.Peak).ToString("F0", CultureInfo.InvariantCulture)));

    internal static double Mb(long bytes) => bytes / (1024.0 * 1024.0);

    private static void Log(string line) => Console.Error.WriteLine(line);

    /// <summary>The figures of one run over its measured part: after warm-up, up to the stop.</summary>
    private sealed record Window
    {
        public double Warmup { get; init; }
        public double WindowSeconds { get; init; }
        public double FirstStart { get; init; }
        public double FirstEnd { get; init; }
        public double LastStart { get; init; }
        public double LastEnd { get; init; }
        public long FirstPeak { get; init; }
        public long LastPeak { get; init; }
        public double Growth => FirstPeak > 0 ? (double)LastPeak / FirstPeak : double.NaN;
        public double GrowthMbPerMinute { get; init; }
        public double SinkRowsPerSecond { get; init; }
        public double SourceRowsPerSecond { get; init; }
        public double BlockedFraction { get; init; }
        public double AllocBytesPerSourceRow { get; init; }
        public long AllocatedBytes { get; init; }
        public long PoolFirstPeak { get; init; }
        public long PoolLastPeak { get; init; }
        public int Gen0Collections { get; init; }
        public string FirstText => $"{FirstStart.ToString("F1", CultureInfo.InvariantCulture)}–{FirstEnd.ToString("F1", CultureInfo.InvariantCulture)} s";
        public string LastText => $"{LastStart.ToString("F1", CultureInfo.InvariantCulture)}–{LastEnd.ToString("F1", CultureInfo.InvariantCulture)} s";

        /// <summary>
        /// Warm-up = the setup's (at most a fifth of a short run); window = the setup's 10 s, or half of what
        /// follows the warm-up when the run is shorter than two windows.
        /// </summary>
        public static Window Analyze(SlowSinkRun run, SlowSinkSetup setup)
        {
            var end = run.EndSeconds;
            var warmup = Math.Min(setup.Warmup.TotalSeconds, end * 0.2);
            var window = Math.Min(setup.Window.TotalSeconds, (end - warmup) / 2);
            var measured = run.Samples.Where(s => s.Seconds <= end + 1e-6).OrderBy(s => s.Seconds).ToList();
            var first = measured.Where(s => s.Seconds >= warmup && s.Seconds <= warmup + window).ToList();
            var last = measured.Where(s => s.Seconds >= end - window).ToList();
            var a = measured.FirstOrDefault(s => s.Seconds >= warmup);
            var b = measured[^1];
            var dt = b.Seconds - a.Seconds;
            var firstPeak = first.Count > 0 ? first.Max(s => s.RssBytes) : 0;
            var lastPeak = last.Count > 0 ? last.Max(s => s.RssBytes) : 0;
            var sourceRows = b.SourceRows - a.SourceRows;
            return new Window
            {
                Warmup = warmup,
                WindowSeconds = window,
                FirstStart = warmup,
                FirstEnd = warmup + window,
                LastStart = end - window,
                LastEnd = end,
                FirstPeak = firstPeak,
                LastPeak = lastPeak,
                GrowthMbPerMinute = Mb(lastPeak - firstPeak) / (end - warmup - window) * 60,
                SinkRowsPerSecond = dt > 0 ? (b.SinkRows - a.SinkRows) / dt : 0,
                SourceRowsPerSecond = dt > 0 ? sourceRows / dt : 0,
                BlockedFraction = dt > 0 ? (b.BlockedTicks - a.BlockedTicks) / (dt * Stopwatch.Frequency * run.Threads) : 0,
                AllocBytesPerSourceRow = sourceRows > 0 ? (double)(b.AllocatedBytes - a.AllocatedBytes) / sourceRows : 0,
                AllocatedBytes = b.AllocatedBytes - a.AllocatedBytes,
                PoolFirstPeak = first.Count > 0 ? first.Max(s => s.PoolBytes) : 0,
                PoolLastPeak = last.Count > 0 ? last.Max(s => s.PoolBytes) : 0,
                Gen0Collections = b.Gen0Collections - a.Gen0Collections,
            };
        }
    }
}
