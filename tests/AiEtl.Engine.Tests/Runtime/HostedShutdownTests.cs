using System.Diagnostics;
using AiEtl.Engine.Hosting;
using AiEtl.Engine.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>
/// The hosted-service API stops as <c>aietl run</c> does on its first signal: the host's StopAsync drains, takes a
/// final checkpoint (and the savepoint asked for) within the host's shutdown timeout, and the run resumes from it.
/// </summary>
public sealed class HostedShutdownTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-hosted-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Spec()
    {
        var path = Path.Combine(_dir, "hosted.yaml");
        File.WriteAllText(path, $$"""
            name: hosted
            source:
              generator: { kind: orders, rate: 20000, seed: 1 }
            transform:
              - select: ["order_id", "amount"]
            sink:
              file: { path: {{Path.Combine(_dir, "out.jsonl")}} }
            checkpoint: { interval: 1h, dir: {{Path.Combine(_dir, "state")}} }
            parallelism: 1
            """);
        return path;
    }

    private async Task<(JobResult Result, int Lines)> RunHostAsync(Action<AietlPipelineOptions> configure)
    {
        var ct = TestContext.Current.CancellationToken;
        var builder = Host.CreateApplicationBuilder();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60));
        builder.Services.AddAietlPipeline(Spec(), configure);
        using var host = builder.Build();
        await host.StartAsync(ct);
        var service = host.Services.GetRequiredService<AietlPipelineService>();
        var output = Path.Combine(_dir, "out.jsonl");
        var before = File.Exists(output) ? File.ReadAllLines(output).Length : 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(60) && !service.Completion.IsCompleted && (!File.Exists(output) || File.ReadAllLines(output).Length <= before + 100))
            await Task.Delay(50, ct);
        Assert.True(service.Runner!.State == JobState.Running, $"state {service.Runner.State}");
        await host.StopAsync(ct);
        var result = await service.Completion;
        return (result, File.ReadAllLines(output).Length);
    }

    [Fact]
    public async Task Host_stop_drains_takes_the_final_checkpoint_and_savepoint_and_the_next_start_resumes()
    {
        // The periodic interval is 1 h: the only checkpoint of the first run is the one its StopAsync takes.
        var (first, lines) = await RunHostAsync(o => o.Savepoint = "host-stop");
        Assert.True(first.Stopped);
        Assert.Equal(1, first.CheckpointsCompleted);
        Assert.Null(first.RestoredFromCheckpoint);
        Assert.True(File.Exists(Path.Combine(_dir, "state", "savepoint-host-stop.ckpt")));
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "state"), "chk-*.ckpt"));
        Assert.True(lines > 0);

        var (second, more) = await RunHostAsync(_ => { });
        Assert.True(second.Stopped);
        Assert.Equal(1, second.RestoredFromCheckpoint);
        Assert.True(more > lines);
        var ids = File.ReadAllLines(Path.Combine(_dir, "out.jsonl")).Select(l => l.Split(',')[0]).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }
}
