using System.Diagnostics;

namespace AiEtl.Bench.Harness;

/// <summary>One timed run.</summary>
/// <param name="WallSeconds">Elapsed time.</param>
/// <param name="CpuSeconds">Process CPU time (user + sys, all threads) during the run.</param>
/// <param name="AllocatedBytes">Managed bytes allocated by all threads during the run.</param>
/// <param name="PeakRssBytes">Largest VmRSS sampled during the run.</param>
public readonly record struct RunSample(double WallSeconds, double CpuSeconds, long AllocatedBytes, long PeakRssBytes);

/// <summary>A warmup run plus N timed runs of one contestant.</summary>
public sealed class Measurement
{
    public required string Name { get; init; }
    /// <summary>Input rows processed per run (the rows/s denominator).</summary>
    public required long Rows { get; init; }
    public required IReadOnlyList<RunSample> Runs { get; init; }
    /// <summary>Largest VmRSS sampled over the warmup and the timed runs.</summary>
    public required long PeakRssBytes { get; init; }
    /// <summary>The kernel's process-wide VmHWM right after the measurement (cannot be reset; cumulative).</summary>
    public required long VmHwmBytes { get; init; }

    public RunSample Best => Runs.MinBy(r => r.WallSeconds);
    public double MedianWallSeconds => Median(Runs.Select(r => r.WallSeconds));
    public double RowsPerSecond => Rows / Best.WallSeconds;
    public double RowsPerSecondMedian => Rows / MedianWallSeconds;
    /// <summary>Rows per CPU-second of the best run (how much of the machine the rate costs).</summary>
    public double RowsPerCpuSecond => Best.CpuSeconds > 0 ? Rows / Best.CpuSeconds : 0;
    /// <summary>Largest allocation over the timed runs, per input row.</summary>
    public double AllocBytesPerRow => (double)Runs.Max(r => r.AllocatedBytes) / Rows;
    public double PeakRssMb => PeakRssBytes / (1024.0 * 1024.0);

    /// <summary>The timed runs' wall times in milliseconds, in run order (for the log).</summary>
    public string RunsText => string.Join(" ", Runs.Select(r => (r.WallSeconds * 1e3).ToString("F1", System.Globalization.CultureInfo.InvariantCulture)));

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}

/// <summary>
/// Runs a body once to warm up (JIT tiers, page faults, pools), then <see cref="TimedRuns"/> times,
/// recording wall time, process CPU time, allocated bytes and sampled peak RSS for each run.
/// </summary>
public sealed class Measurer(RssSampler sampler, int timedRuns)
{
    public int TimedRuns { get; } = timedRuns;

    public RssSampler Sampler { get; } = sampler;

    public Measurement Measure<T>(string name, long rows, Func<T> body, out T result)
    {
        ArgumentNullException.ThrowIfNull(body);
        Settle();
        Sampler.ResetWindow();
        result = body();
        var peak = Sampler.WindowMax;
        var runs = new RunSample[TimedRuns];
        for (var r = 0; r < TimedRuns; r++)
        {
            Settle();
            Sampler.ResetWindow();
            var cpu0 = CpuSeconds();
            var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
            var start = Stopwatch.GetTimestamp();
            result = body();
            var wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var alloc1 = GC.GetTotalAllocatedBytes(precise: true);
            var cpu1 = CpuSeconds();
            var rss = Sampler.WindowMax;
            runs[r] = new RunSample(wall, cpu1 - cpu0, alloc1 - alloc0, rss);
            peak = Math.Max(peak, rss);
        }
        return new Measurement
        {
            Name = name,
            Rows = rows,
            Runs = runs,
            PeakRssBytes = peak,
            VmHwmBytes = RssSampler.ReadVmHwm(),
        };
    }

    /// <summary>
    /// Measures several contestants side by side: one warmup each, then <see cref="TimedRuns"/> rounds in which
    /// every contestant runs once, the order rotating each round, so all see the same machine load (on a shared
    /// machine, contestants measured one after the other do not). <paramref name="check"/> validates each result.
    /// </summary>
    public Measurement[] MeasureAlternating<T>(long rows, IReadOnlyList<(string Name, Func<T> Body)> contestants, Action<string, T> check)
    {
        ArgumentNullException.ThrowIfNull(contestants);
        ArgumentNullException.ThrowIfNull(check);
        var n = contestants.Count;
        var peaks = new long[n];
        var runs = new RunSample[n][];
        for (var c = 0; c < n; c++)
        {
            Settle();
            Sampler.ResetWindow();
            check(contestants[c].Name, contestants[c].Body());
            peaks[c] = Sampler.WindowMax;
            runs[c] = new RunSample[TimedRuns];
        }
        for (var r = 0; r < TimedRuns; r++)
        {
            for (var k = 0; k < n; k++)
            {
                var c = (k + r) % n;
                Settle();
                Sampler.ResetWindow();
                var cpu0 = CpuSeconds();
                var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
                var start = Stopwatch.GetTimestamp();
                var result = contestants[c].Body();
                var wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
                var alloc1 = GC.GetTotalAllocatedBytes(precise: true);
                var cpu1 = CpuSeconds();
                var rss = Sampler.WindowMax;
                check(contestants[c].Name, result);
                runs[c][r] = new RunSample(wall, cpu1 - cpu0, alloc1 - alloc0, rss);
                peaks[c] = Math.Max(peaks[c], rss);
            }
        }
        var hwm = RssSampler.ReadVmHwm();
        return Enumerable.Range(0, n).Select(c => new Measurement
        {
            Name = contestants[c].Name,
            Rows = rows,
            Runs = runs[c],
            PeakRssBytes = peaks[c],
            VmHwmBytes = hwm,
        }).ToArray();
    }

    /// <summary>
    /// Two contestants measured in alternation so that neither always runs first (JIT tiers, first-use costs and a
    /// drifting machine load would otherwise all fall on one side): one warmup each, then the timed runs in the order
    /// A B, B A, A B, … (<see cref="MeasureAlternating{T}"/> with two contestants). The results are the last run's.
    /// </summary>
    public (Measurement A, Measurement B) MeasurePair<T>(string nameA, string nameB, long rows, Func<T> bodyA, Func<T> bodyB, out T resultA, out T resultB)
    {
        ArgumentNullException.ThrowIfNull(bodyA);
        ArgumentNullException.ThrowIfNull(bodyB);
        var last = new T[2];
        var m = MeasureAlternating(rows, [(nameA, bodyA), (nameB, bodyB)], (name, result) => last[name == nameA ? 0 : 1] = result);
        resultA = last[0];
        resultB = last[1];
        return (m[0], m[1]);
    }

    /// <summary>Full blocking collection so one contestant's garbage is not collected on another's time.</summary>
    public static void Settle()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
    }

    private static double CpuSeconds()
    {
        using var p = Process.GetCurrentProcess();
        return p.TotalProcessorTime.TotalSeconds;
    }
}
