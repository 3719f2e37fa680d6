using System.Diagnostics;
using AiEtl.Engine.Tests.Support;
using AiEtl.TestSupport;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary><c>aietl run --savepoint NAME</c> / <c>--from-savepoint NAME</c> in a child process.</summary>
public sealed class SavepointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-savepoint-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Out => Path.Combine(_dir, "out.jsonl");
    private string State => Path.Combine(_dir, "state");

    private string Spec()
    {
        var path = Path.Combine(_dir, "sp.yaml");
        File.WriteAllText(path, $$"""
            name: sp
            source:
              generator: { kind: orders, rate: 20000, seed: 1 }
            transform:
              - select: ["order_id", "amount"]
            sink:
              file: { path: {{Out}} }
            checkpoint: { interval: 200ms, dir: {{State}}, keep: 1 }
            parallelism: 1
            """);
        return path;
    }

    private static int Lines(string file) => File.Exists(file) ? File.ReadAllLines(file).Length : 0;

    /// <summary>
    /// Runs until a checkpoint of this run completed (its sink is open: a restore has cut the output back) and the
    /// output has grown past <paramref name="atLeast"/> lines, then SIGTERM; returns stderr.
    /// </summary>
    private async Task<string> RunUntilAsync(int atLeast, params string[] extra)
    {
        var ct = TestContext.Current.CancellationToken;
        using var p = Cli.Start(_dir, ["run", Spec(), "--no-progress", "--log-level", "debug", .. extra]);
        var err = new System.Text.StringBuilder();
        var reader = Task.Run(async () =>
        {
            while (await p.StandardError.ReadLineAsync(ct) is { } line)
                lock (err) err.AppendLine(line);
        }, ct);
        string Err() { lock (err) return err.ToString(); }
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(90) && !p.HasExited && (!Err().Contains(" completed in ", StringComparison.Ordinal) || Lines(Out) <= atLeast))
            await Task.Delay(50, ct);
        // A few more checkpoints, so that keep: 1 has pruned older ones.
        await Task.Delay(800, ct);
        await ServerProcess.SignalAndWaitAsync(p, ServerProcess.SIGTERM, TimeSpan.FromSeconds(60), () => Task.FromResult(Err()), ct);
        await reader;
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {Err()}");
        return Err();
    }

    [Fact]
    public async Task A_savepoint_taken_at_stop_survives_retention_and_a_later_run_resumes_from_it()
    {
        var err = await RunUntilAsync(0, "--savepoint", "before-upgrade");
        Assert.Contains("savepoint before-upgrade written", err);
        var savepoint = Path.Combine(State, "savepoint-before-upgrade.ckpt");
        Assert.True(File.Exists(savepoint));
        var atSavepoint = File.ReadAllLines(Out);
        Assert.NotEmpty(atSavepoint);

        // A plain run goes on from the latest checkpoint; with keep: 1 its checkpoints replace each other, the savepoint stays.
        err = await RunUntilAsync(atSavepoint.Length + 2000);
        Assert.Contains("resumed from checkpoint", err);
        Assert.True(File.Exists(savepoint));
        var later = File.ReadAllLines(Out);
        Assert.True(later.Length > atSavepoint.Length);
        Assert.Single(Directory.GetFiles(State, "chk-*.ckpt"));

        // Resuming from the savepoint rewinds: the output is cut back to what the savepoint committed and continues from there.
        err = await RunUntilAsync(atSavepoint.Length, "--from-savepoint", "before-upgrade");
        Assert.Contains("resumed from savepoint before-upgrade", err);
        var resumed = File.ReadAllLines(Out);
        Assert.Equal(atSavepoint, resumed.Take(atSavepoint.Length));
        var ids = resumed.Select(l => l.Split(',')[0]).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        // The generator is deterministic: the rows after the savepoint are the ones the plain run wrote there.
        var overlap = Math.Min(resumed.Length, later.Length);
        Assert.Equal(later.Take(overlap), resumed.Take(overlap));
    }

    [Fact]
    public async Task A_missing_savepoint_or_a_bad_name_is_a_usage_error()
    {
        var (code, _, err) = await Cli.RunAsync(_dir, TimeSpan.FromSeconds(60), "run", Spec(), "--no-progress", "--from-savepoint", "nope");
        Assert.True(code == 2, $"exit {code}: {err}");
        Assert.Contains("no savepoint 'nope'", err);
        (code, _, err) = await Cli.RunAsync(_dir, TimeSpan.FromSeconds(60), "run", Spec(), "--no-progress", "--savepoint", "../x");
        Assert.True(code == 2, $"exit {code}: {err}");
        Assert.Contains("not a savepoint name", err);
    }
}
