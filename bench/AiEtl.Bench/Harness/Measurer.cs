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
    /// Two contestants measured in alternation so that neither always runs first (JIT tiers, first-use costs and a
    /// drifting machine load would otherwise all fall on one side): one warmup each (A, B), then the timed runs in
    /// the order A B, B A, A B, … — <see cref="TimedRuns"/> runs of each.
    /// </summary>
    public (Measurement A, Measurement B) MeasurePair<T>(string nameA, string nameB, long rows, Func<T> bodyA, Func<T> bodyB, out T resultA, out T resultB)
    {
        ArgumentNullException.ThrowIfNull(bodyA);
        ArgumentNullException.ThrowIfNull(bodyB);
        var samples = new[] { new RunSample[TimedRuns], new RunSample[TimedRuns] };
        var peaks = new long[2];
        var bodies = new[] { bodyA, bodyB };
        var results = new T[2];
        for (var k = 0; k < 2; k++)
        {
            Settle();
            Sampler.ResetWindow();
            results[k] = bodies[k]();
            peaks[k] = Sampler.WindowMax;
        }
        for (var r = 0; r < TimedRuns; r++)
        {
            for (var j = 0; j < 2; j++)
            {
                var k = r % 2 == 0 ? j : 1 - j;
                Settle();
                Sampler.ResetWindow();
                var cpu0 = CpuSeconds();
                var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
                var start = Stopwatch.GetTimestamp();
                results[k] = bodies[k]();
                var wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
                var alloc1 = GC.GetTotalAllocatedBytes(precise: true);
                var cpu1 = CpuSeconds();
                var rss = Sampler.WindowMax;
                samples[k][r] = new RunSample(wall, cpu1 - cpu0, alloc1 - alloc0, rss);
                peaks[k] = Math.Max(peaks[k], rss);
            }
        }
        resultA = results[0];
        resultB = results[1];
        var hwm = RssSampler.ReadVmHwm();
        return (new Measurement { Name = nameA, Rows = rows, Runs = samples[0], PeakRssBytes = peaks[0], VmHwmBytes = hwm },
                new Measurement { Name = nameB, Rows = rows, Runs = samples[1], PeakRssBytes = peaks[1], VmHwmBytes = hwm });
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
