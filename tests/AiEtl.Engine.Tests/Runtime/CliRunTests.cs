using System.Diagnostics;
using AiEtl.Engine.Tests.Support;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary><c>aietl run</c> as a child process: exit codes, graceful stop, abort, explain.</summary>
public sealed class CliRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-run-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Write(string name, string yaml)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private string Unbounded(string name) => Write(name + ".yaml", $$"""
        name: {{name}}
        source:
          generator: { kind: orders, rate: 20000, seed: 1 }
        transform:
          - filter: "status = 'paid'"
          - select: ["order_id", "amount"]
        sink:
          file: { path: {{Path.Combine(_dir, name + ".jsonl")}} }
        checkpoint: { interval: 200ms, dir: {{Path.Combine(_dir, name + "-state")}} }
        parallelism: 1
        """);

    private static async Task WaitForOutputAsync(string file, Process p)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(60) && !p.HasExited && (!File.Exists(file) || new FileInfo(file).Length == 0))
            await Task.Delay(20, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task First_signal_drains_and_commits_a_final_checkpoint_then_exits_0()
    {
        var spec = Unbounded("drain");
        using var p = Cli.Start(_dir, "run", spec, "--no-progress");
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await WaitForOutputAsync(Path.Combine(_dir, "drain.jsonl"), p);
        await global::AiEtl.TestSupport.ServerProcess.SignalAndWaitAsync(p, global::AiEtl.TestSupport.ServerProcess.SIGTERM, TimeSpan.FromSeconds(60), () => stderr, TestContext.Current.CancellationToken);
        var err = await stderr;
        Assert.True(p.ExitCode == 0, err);
        Assert.Contains("stopped (drained)", err);
        // Everything written was committed: the output holds whole lines only, each a paid order.
        var lines = File.ReadAllLines(Path.Combine(_dir, "drain.jsonl"));
        Assert.NotEmpty(lines);
        Assert.All(lines, l => Assert.Matches("^\\{\"order_id\":\\d+,\"amount\":[0-9.]+\\}$", l));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(_dir, "drain-state"), "chk-*.ckpt"));

        // A second run resumes after the rows already written: order ids continue without overlap.
        using var again = Cli.Start(_dir, "run", spec, "--no-progress");
        var err2 = again.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var sw = Stopwatch.StartNew();
        while (File.ReadAllLines(Path.Combine(_dir, "drain.jsonl")).Length <= lines.Length && sw.Elapsed < TimeSpan.FromSeconds(60))
            await Task.Delay(50, TestContext.Current.CancellationToken);
        await global::AiEtl.TestSupport.ServerProcess.SignalAndWaitAsync(again, global::AiEtl.TestSupport.ServerProcess.SIGINT, TimeSpan.FromSeconds(60), () => err2, TestContext.Current.CancellationToken);
        Assert.True(again.ExitCode == 0, await err2);
        var ids = File.ReadAllLines(Path.Combine(_dir, "drain.jsonl")).Select(l => l.Split(',')[0]).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.True(ids.Count > lines.Length);
    }

    [Fact]
    public async Task A_second_signal_aborts_with_exit_130()
    {
        var spec = Write("abort.yaml", $$"""
            name: abort
            source:
              generator: { kind: orders, rate: 20000 }
            sink:
              console: { max_rows: 1 }
            parallelism: 1
            """);
        using var p = Cli.Start(_dir, "run", spec, "--no-progress", "--stop-timeout", "1m");
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        // Wait until it runs (the console sink printed its first row: signal handlers are installed by then).
        var first = await p.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken);
        Assert.NotNull(first);
        var stdout = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        global::AiEtl.TestSupport.ServerProcess.Signal(p.Id, global::AiEtl.TestSupport.ServerProcess.SIGINT);
        global::AiEtl.TestSupport.ServerProcess.Signal(p.Id, global::AiEtl.TestSupport.ServerProcess.SIGINT);
        await p.WaitForExitAsync(TestContext.Current.CancellationToken);
        var err = await stderr;
        _ = await stdout;
        // Either the second signal aborted (130), or the drain won the race and finished first (0).
        Assert.True(p.ExitCode is 130 or 0, $"exit {p.ExitCode}: {err}");
        if (p.ExitCode == 130) Assert.Contains("aborted", err);
    }

    [Fact]
    public async Task An_abort_exits_130_even_when_a_sink_is_stuck_writing_to_a_stdout_pipe_nobody_reads()
    {
        // `aietl run spec | consumer` where the consumer stops reading: the console sink fills the pipe and blocks
        // in write(2), which no cancellation token interrupts. Neither the drain nor the abort can finish the task;
        // the stop messages must still reach stderr and the process must exit 130 after the abort deadline.
        var spec = Write("stuck.yaml", $$"""
            name: stuck
            source:
              generator: { kind: orders, rate: 20000 }
            sink:
              console: { format: jsonl, max_rows: 1000000000 }
            parallelism: 1
            """);
        var ct = TestContext.Current.CancellationToken;
        using var p = Cli.Start(_dir, "run", spec, "--no-progress", "--stop-timeout", "1m");
        var stderrLines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) stderrLines.Enqueue(e.Data); };
        p.BeginErrorReadLine();
        try
        {
            // Running (signal handlers installed) once the first row arrives; from here on stdout is never read again.
            var first = await p.StandardOutput.ReadLineAsync(ct);
            Assert.True(first != null, $"no output: {string.Join('\n', stderrLines)}");
            await WaitUntilBlockedOnPipeWriteAsync(p);

            global::AiEtl.TestSupport.ServerProcess.Signal(p.Id, global::AiEtl.TestSupport.ServerProcess.SIGINT);
            var sw = Stopwatch.StartNew();
            while (!stderrLines.Any(l => l.Contains("aietl: stopping", StringComparison.Ordinal)) && sw.Elapsed < TimeSpan.FromSeconds(60) && !p.HasExited)
                await Task.Delay(50, ct);
            Assert.True(stderrLines.Any(l => l.Contains("aietl: stopping", StringComparison.Ordinal)),
                $"the stop message never reached stderr: {string.Join('\n', stderrLines)}");
            Assert.False(p.HasExited, $"the drain finished although the sink cannot write (exit {(p.HasExited ? p.ExitCode : 0)})");

            global::AiEtl.TestSupport.ServerProcess.Signal(p.Id, global::AiEtl.TestSupport.ServerProcess.SIGINT);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(60)); // the deadline is 5 s; generous for a loaded machine
            try
            {
                await p.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                Assert.Fail($"aietl still running 60 s after the abort: {string.Join('\n', stderrLines)}");
            }
            p.WaitForExit(); // drains the stderr reader
            var err = string.Join('\n', stderrLines);
            Assert.True(p.ExitCode == 130, $"exit {p.ExitCode}: {err}");
            Assert.Contains("aietl: aborting", err);
            Assert.Contains("were abandoned", err);
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
    }

    /// <summary>Waits until a thread of <paramref name="p"/> sleeps in a pipe write (Linux /proc wchan); on kernels
    /// that hide wchan it gives the generator (20,000 rows/s) ample time to fill the 64 KiB pipe instead.</summary>
    private static async Task WaitUntilBlockedOnPipeWriteAsync(Process p)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            try
            {
                foreach (var task in Directory.GetDirectories($"/proc/{p.Id}/task"))
                    if (File.ReadAllText(Path.Combine(task, "wchan")).Contains("pipe_write", StringComparison.Ordinal)) return;
            }
            catch (IOException)
            {
                // a thread ended while we looked
            }
            catch (UnauthorizedAccessException)
            {
                // wchan hidden: fall back to waiting
            }
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task A_failing_pipeline_exits_1_with_the_error()
    {
        var blocker = Path.Combine(_dir, "not-a-dir");
        File.WriteAllText(blocker, "x");
        var spec = Write("fail.yaml", $$"""
            name: fail
            source:
              generator: { kind: orders, rows: 1000 }
            sink:
              file: { path: {{Path.Combine(blocker, "out.jsonl")}} }
            """);
        var (code, _, err) = await Cli.RunAsync(_dir, TimeSpan.FromSeconds(60), "run", spec, "--no-progress");
        Assert.True(code == 1, $"exit {code}: {err}");
        Assert.Contains("pipeline failed", err);
    }

    [Fact]
    public async Task Explain_prints_the_logical_and_physical_plan()
    {
        var spec = Write("explain.yaml", $$"""
            name: explain
            source:
              generator: { kind: orders, rows: 10 }
            transform:
              - filter: "amount > 10"
              - running_count: { key: customer_id, as: n }
            sink:
              null: {}
            parallelism: 2
            """);
        var (code, output, err) = await Cli.RunAsync(_dir, TimeSpan.FromSeconds(60), "explain", spec);
        Assert.True(code == 0, err);
        Assert.Contains("logical plan for explain", output);
        Assert.Contains("filter (amount > 10)", output);
        Assert.Contains("[hash by customer_id]", output);
        Assert.Contains("keyed:customer_id  parallelism=2", output);
        Assert.Contains("running_count by customer_id as n (keyed state)", output);
    }

    [Fact]
    public async Task A_plan_error_exits_2_and_names_the_step()
    {
        var spec = Write("bad.yaml", $$"""
            name: bad
            source:
              generator: { kind: orders, rows: 10 }
            transform:
              - select: ["order_id", "amount * nosuch AS x"]
            sink:
              null: {}
            """);
        var (code, _, err) = await Cli.RunAsync(_dir, TimeSpan.FromSeconds(60), "run", spec);
        Assert.Equal(2, code);
        Assert.Contains("transform[0]", err);
        Assert.Contains("unknown column 'nosuch'", err);
    }
}
