using System.Diagnostics;
using AiEtl.TestSupport;
using Npgsql;

namespace AiEtl.Integration.Tests.Postgres;

/// <summary>`aietl run` of a CDC pipeline killed with SIGKILL at random points while the source keeps changing.</summary>
[Collection("postgres")]
public sealed class CdcCliCrashTests(PostgresFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static string AietlDll()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "AiEtl.Engine.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var suffix = Path.GetRelativePath(Path.Combine(dir.FullName, "tests", "AiEtl.Integration.Tests"), AppContext.BaseDirectory);
        var dll = Path.Combine(dir.FullName, "src", "ControlPlane", "AiEtl.Cli", suffix, "aietl.dll");
        Assert.True(File.Exists(dll), $"aietl.dll not built at {dll}");
        return dll;
    }

    internal static Process StartAietl(string dir, string spec)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dir,
        };
        foreach (var a in new[] { AietlDll(), "run", spec, "--no-progress" }) start.ArgumentList.Add(a);
        return Process.Start(start)!;
    }

    [Fact]
    public async Task Sigkill_of_aietl_run_at_ten_random_points_loses_nothing()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "clikill", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY, v int, s text); INSERT INTO t SELECT g, 0, 's' FROM generate_series(1, 20000) g", Ct);
        var spec = Path.Combine(h.StateDir, "cdc.yaml");
        await File.WriteAllTextAsync(spec, h.Yaml("public.t", "batch_size: 1000", interval: "200ms"), Ct);
        using var stopWriter = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            var rng = new Random(3);
            var next = 100_000;
            await using var conn = new NpgsqlConnection(h.Source);
            await conn.OpenAsync(Ct);
            while (!stopWriter.IsCancellationRequested)
            {
                await using var cmd = new NpgsqlCommand(
                    $"BEGIN; UPDATE t SET v = v + 1, s = s || 'x' WHERE id % 50 = {rng.Next(50)}; DELETE FROM t WHERE id = {rng.Next(1, 20000)}; " +
                    $"INSERT INTO t VALUES ({next++}, 1, 'new'), ({next++}, 2, 'new'); COMMIT", conn);
                await cmd.ExecuteNonQueryAsync(Ct);
                await Task.Delay(5, Ct);
            }
        }, Ct);
        var rng = new Random(11);
        for (var kill = 0; kill < 10; kill++)
        {
            using var p = StartAietl(h.StateDir, spec);
            var stderr = p.StandardError.ReadToEndAsync(Ct);
            await Task.Delay(1000 + rng.Next(3000), Ct);
            Assert.False(p.HasExited, $"aietl exited early ({(p.HasExited ? p.ExitCode : 0)}): {(p.HasExited ? await stderr : "")}");
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync(Ct);
        }
        stopWriter.Cancel();
        await writer;
        using (var p = StartAietl(h.StateDir, spec))
        {
            var stderr = p.StandardError.ReadToEndAsync(Ct);
            await h.WaitEqualAsync("t", Ct, timeout: TimeSpan.FromMinutes(3));
            await ServerProcess.SignalAndWaitAsync(p, ServerProcess.SIGINT, TimeSpan.FromSeconds(120), () => stderr, Ct);
            Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {await stderr}");
        }
    }
}
