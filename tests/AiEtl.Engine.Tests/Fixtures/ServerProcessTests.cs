using System.Diagnostics;
using AiEtl.TestSupport;

namespace AiEtl.Engine.Tests.Fixtures;

/// <summary>The fixtures' child-process helper (<see cref="ServerProcess"/>), which every real-server fixture uses.</summary>
public sealed class ServerProcessTests : IDisposable
{
    private readonly string _dir = ServerProcess.CreateTempDir("splog");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Output_arriving_after_the_process_exited_is_logged_and_the_log_closes_at_end_of_output()
    {
        // The process exits at once; a child it leaves behind holds the pipes and writes after the exit, as a
        // server's helper processes do while it shuts down. The log used to be closed on Process.Exited, and the
        // late line then threw ObjectDisposedException on the reader's thread, which aborts the test host.
        var log = Path.Combine(_dir, "server.log");
        using var p = ServerProcess.StartBackground("/bin/sh", ["-c", "echo early; (sleep 1; echo late; echo late-err >&2) & exit 0"], log);
        await p.WaitForExitAsync(TestContext.Current.CancellationToken);

        // Closed once both pipes reach end of file: only then can the file be opened exclusively.
        var sw = Stopwatch.StartNew();
        string? text = null;
        while (text == null && sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                using var exclusive = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.None);
                text = new StreamReader(exclusive).ReadToEnd();
            }
            catch (IOException)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
        }
        Assert.True(text != null, $"the log was not closed 60 s after the output ended: {ServerProcess.TailOf(log)}");
        Assert.Equal(["early", "late", "late-err"], text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_process_that_ignores_the_stop_signal_is_described_killed_and_reported_instead_of_hanging_the_test()
    {
        using var p = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", "trap '' TERM; echo ready; sleep 60"]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        Assert.Equal("ready", await p.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken));
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<TimeoutException>(() => ServerProcess.SignalAndWaitAsync(p, ServerProcess.SIGTERM, TimeSpan.FromSeconds(1), () => Task.FromResult("its output"), TestContext.Current.CancellationToken));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
        Assert.True(p.HasExited);
        Assert.Contains("after signal 15 (sent; killed now)", e.Message, StringComparison.Ordinal);
        var ignored = System.Text.RegularExpressions.Regex.Match(e.Message, @"SigIgn:\s+([0-9a-f]+)");
        Assert.True(ignored.Success && (Convert.ToUInt64(ignored.Groups[1].Value, 16) & (1UL << 14)) != 0, e.Message); // bit 15 (SIGTERM) ignored
        Assert.Contains("threads: [", e.Message, StringComparison.Ordinal);
        Assert.Contains("its output", e.Message, StringComparison.Ordinal);
    }
}
