using System.Diagnostics;

namespace AiEtl.Engine.Tests.Support;

/// <summary>Starts the built <c>aietl</c> (dotnet aietl.dll …) as a child process, as users run it.</summary>
public static class Cli
{
    public static string DllPath()
    {
        var root = Spec.SpecTestSupport.RepoRoot;
        var testProject = Path.Combine(root, "tests", "AiEtl.Engine.Tests");
        var outputSuffix = Path.GetRelativePath(testProject, AppContext.BaseDirectory);
        var dll = Path.Combine(root, "src", "ControlPlane", "AiEtl.Cli", outputSuffix, "aietl.dll");
        Assert.True(File.Exists(dll), $"aietl.dll not built at {dll}");
        return dll;
    }

    public static Process Start(string workingDir, params string[] args) => Start(workingDir, null, args);

    /// <summary>Starts aietl with extra environment variables.</summary>
    public static Process Start(string workingDir, IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDir,
        };
        if (env != null) foreach (var (k, v) in env) start.Environment[k] = v;
        start.ArgumentList.Add(DllPath());
        foreach (var a in args) start.ArgumentList.Add(a);
        return Process.Start(start)!;
    }

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string workingDir, TimeSpan timeout, params string[] args)
    {
        using var p = Start(workingDir, args);
        var ct = TestContext.Current.CancellationToken;
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(true);
            throw new TimeoutException($"aietl {string.Join(' ', args)} did not finish within {timeout}: {await stderr}");
        }
        return (p.ExitCode, await stdout, await stderr);
    }
}
