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
}
