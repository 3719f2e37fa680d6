using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace AiEtl.Bench.Micro;

/// <summary>
/// Runs the BenchmarkDotNet kernels of this assembly. One short in-process job (no generated project to
/// build, so the repository's build policy does not apply to it and a full run stays under two minutes).
/// </summary>
public static class MicroRunner
{
    public static int Run(string[] args)
    {
        var job = Job.ShortRun
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithId("short-inproc");
        var config = ManualConfig.Create(DefaultConfig.Instance).AddJob(job);
        // Without arguments BenchmarkSwitcher would ask interactively; run everything instead.
        if (args.Length == 0) args = ["--filter", "*"];
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(MicroRunner).Assembly).Run(args, config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
