using System.Runtime;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AiEtl.Bench.Harness;

/// <summary>Facts about the machine and runtime recorded with every result.</summary>
public static class EnvInfo
{
    public static Figures Collect(BenchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new Figures()
            .Add("cores", (long)Environment.ProcessorCount)
            .Add("dotnet", RuntimeInformation.FrameworkDescription)
            .Add("os", RuntimeInformation.OSDescription)
            .Add("arch", RuntimeInformation.ProcessArchitecture.ToString())
            .Add("cpu", CpuModel())
            .Add("memory_gb", GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024), 1)
            .Add("vector512", Vector512.IsHardwareAccelerated)
            .Add("gc", (GCSettings.IsServerGC ? "server" : "workstation") + (GCSettings.LatencyMode == GCLatencyMode.Batch ? "" : " concurrent"))
            .Add("date", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture))
            .Add("quick", options.Quick)
            .Add("timed_runs", (long)options.TimedRuns)
            .Add("parallelism", (long)options.Parallelism);
    }

    /// <summary>The 1-minute load average (other work on a shared machine skews every figure), or -1.</summary>
    public static double LoadAverage1m()
    {
        try
        {
            var text = File.ReadAllText("/proc/loadavg");
            var end = text.IndexOf(' ', StringComparison.Ordinal);
            return double.TryParse(end < 0 ? text : text[..end], System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : -1;
        }
        catch (IOException)
        {
            return -1;
        }
        catch (UnauthorizedAccessException)
        {
            return -1;
        }
    }

    private static string CpuModel()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal))
                {
                    var colon = line.IndexOf(':', StringComparison.Ordinal);
                    return colon < 0 ? "unknown" : line[(colon + 1)..].Trim();
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return "unknown";
    }
}
