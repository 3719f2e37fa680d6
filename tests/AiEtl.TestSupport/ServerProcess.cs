using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace AiEtl.TestSupport;

/// <summary>Helpers shared by the real-server fixtures: free ports, temp dirs, binaries, child processes.</summary>
public static class ServerProcess
{
    /// <summary>Reserves and releases a free loopback TCP port.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public static bool IsRoot => Environment.UserName == "root" || geteuid() == 0;

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = false)]
    private static extern uint geteuid();

    public static string CreateTempDir(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"aietl-{prefix}-{Environment.ProcessId}-{Guid.NewGuid():N}"[..Math.Min(48, 16 + prefix.Length + 8)]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Finds a binary or throws naming the Debian package that provides it (never a silent skip).</summary>
    public static string RequireBinary(string debianPackage, params string[] candidates)
    {
        foreach (var c in candidates)
        {
            if (Path.IsPathRooted(c))
            {
                if (File.Exists(c)) return c;
                continue;
            }
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            {
                var p = Path.Combine(dir, c);
                if (File.Exists(p)) return p;
            }
        }
        throw new InvalidOperationException(
            $"Required server binary not found (looked for {string.Join(", ", candidates)}). " +
            $"Install the Debian package '{debianPackage}': run `./build.sh setup` (or `sudo apt-get install -y {debianPackage}`).");
    }

    /// <summary>Runs a short command to completion and returns its output; throws on a non-zero exit.</summary>
    public static string Run(string file, IEnumerable<string> args, TimeSpan? timeout = null, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env != null) foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit((int)(timeout ?? TimeSpan.FromSeconds(60)).TotalMilliseconds))
        {
            try { p.Kill(true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} timed out");
        }
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', psi.ArgumentList)} exited {p.ExitCode}: {stderr.Result}{stdout.Result}");
        return stdout.Result;
    }

    /// <summary>Starts a long-running server process with its output sent to a log file.</summary>
    public static Process StartBackground(string file, IEnumerable<string> args, string logFile)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var log = new StreamWriter(logFile, append: true) { AutoFlush = true };
        var gate = new object();
        var open = 2; // stdout and stderr; the log closes after both reach end of file
        void OnLine(DataReceivedEventArgs e)
        {
            lock (gate)
            {
                if (e.Data != null)
                {
                    log.WriteLine(e.Data);
                }
                else if (--open == 0)
                {
                    log.Dispose();
                }
            }
        }
        // Not closed on Process.Exited: that event can come before the last lines are read from the pipes
        // (and children of the server may keep them open longer), and a write to the closed log would throw
        // on the reader's thread, which the runtime rethrows as an unhandled exception that aborts the test host.
        p.OutputDataReceived += (_, e) => OnLine(e);
        p.ErrorDataReceived += (_, e) => OnLine(e);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>Stops a server by PID: a polite signal first, then SIGKILL after the grace period.</summary>
    public static void Stop(Process? p, int signal, TimeSpan grace)
    {
        if (p == null) return;
        try
        {
            if (p.HasExited) return;
            _ = kill(p.Id, signal);
            if (!p.WaitForExit((int)grace.TotalMilliseconds))
            {
                p.Kill(true);
                p.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    public const int SIGINT = 2;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGSTOP = 19;
    public const int SIGCONT = 18;

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    /// <summary>Sends a signal to a process (used by fault-injection tests).</summary>
    public static void Signal(int pid, int sig) => _ = kill(pid, sig);

    /// <summary>
    /// Sends <paramref name="sig"/> (a graceful stop) and waits for the exit. A process still running after
    /// <paramref name="timeout"/> is described (its signal masks and every thread's name, state and wait channel, so a
    /// stuck signal handler or task shows), killed, and reported as a <see cref="TimeoutException"/> carrying
    /// <paramref name="output"/> (what it printed): a test fails with evidence instead of hanging the run.
    /// </summary>
    public static async Task SignalAndWaitAsync(Process p, int sig, TimeSpan timeout, Func<Task<string>>? output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(p);
        var sent = kill(p.Id, sig) == 0 ? "sent" : $"not sent (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})";
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
        }
        var state = DescribeProcess(p.Id);
        try
        {
            p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // exited meanwhile
        }
        await p.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        var printed = output is null ? "" : await output().ConfigureAwait(false);
        throw new TimeoutException($"pid {p.Id} was still running {timeout.TotalSeconds:0}s after signal {sig} ({sent}; killed now). {state}{Environment.NewLine}Output:{Environment.NewLine}{printed}");
    }

    /// <summary>Signal masks and threads of a live process, from /proc.</summary>
    public static string DescribeProcess(int pid)
    {
        var sb = new System.Text.StringBuilder();
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("Sig", StringComparison.Ordinal) || line.StartsWith("ShdPnd", StringComparison.Ordinal) || line.StartsWith("State", StringComparison.Ordinal))
                    sb.Append(line.Replace('\t', ' ')).Append("; ");
            sb.Append("threads:");
            foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
            {
                string Read(string f)
                {
                    try { return File.ReadAllText(Path.Combine(task, f)).Trim(); }
                    catch (IOException) { return "?"; }
                    catch (UnauthorizedAccessException) { return "?"; }
                }
                var stat = Read("stat");
                var st = stat.LastIndexOf(')') is var close and > 0 && close + 2 < stat.Length ? stat[close + 2].ToString() : "?";
                sb.Append($" [{Path.GetFileName(task)} {Read("comm")} {st} {Read("wchan")}]");
            }
        }
        catch (IOException e)
        {
            sb.Append($"(not readable: {e.Message})");
        }
        catch (UnauthorizedAccessException e)
        {
            sb.Append($"(not readable: {e.Message})");
        }
        return sb.ToString();
    }

    public static async Task WaitUntilAsync(Func<Task<bool>> probe, TimeSpan timeout, Func<string> describeFailure)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            try
            {
                if (await probe().ConfigureAwait(false)) return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or SocketException or InvalidOperationException or TaskCanceledException)
            {
                // not ready yet
            }
            await Task.Delay(50).ConfigureAwait(false);
        }
        throw new TimeoutException($"server not ready after {timeout.TotalSeconds:0}s. {describeFailure()}");
    }

    public static void Log(string message) =>
        Console.Error.WriteLine($"[fixture {DateTime.UtcNow:HH:mm:ss.fff}] {message}");

    public static string TailOf(string file, int maxChars = 4000)
    {
        try
        {
            if (!File.Exists(file)) return $"(no {Path.GetFileName(file)})";
            var text = File.ReadAllText(file);
            return text.Length <= maxChars ? text : text[^maxChars..];
        }
        catch (IOException e)
        {
            return e.Message;
        }
    }
}
