using System.Diagnostics;
using static AiEtl.Engine.Tests.Spec.SpecTestSupport;

namespace AiEtl.Engine.Tests.Spec;

/// <summary>Runs the built <c>aietl</c> (dotnet aietl.dll validate …) as users do.</summary>
public sealed class CliValidateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>aietl.dll from the CLI project's output, built in the same configuration as this test assembly.</summary>
    private static string CliPath()
    {
        var testProject = Path.Combine(RepoRoot, "tests", "AiEtl.Engine.Tests");
        var outputSuffix = Path.GetRelativePath(testProject, AppContext.BaseDirectory); // e.g. bin/Debug/net10.0
        var dll = Path.Combine(RepoRoot, "src", "ControlPlane", "AiEtl.Cli", outputSuffix, "aietl.dll");
        Assert.True(File.Exists(dll), $"aietl.dll not built at {dll}");
        return dll;
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(CliPath());
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var ct = TestContext.Current.CancellationToken;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task Validate_broken_file_exits_2_and_prints_each_error_with_line_and_column()
    {
        var file = Path.Combine(_dir, "broken.yaml");
        await File.WriteAllTextAsync(file, """
            name: broken
            source:
              file: { path: data/orders.jsonl }
              schema:
                id: int46
                ts: timestamp
              event_time: { column: tz, idle_timeout: 0s }
            sink:
              consol: {}
            """, TestContext.Current.CancellationToken);

        var (exit, stdout, stderr) = await RunAsync("validate", file);

        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(
            [
                $"{file}:5:9: source.schema.id: unknown type 'int46'; did you mean 'int64'?",
                $"{file}:7:25: source.event_time.column: column 'tz' is not in the source schema; did you mean 'ts'?",
                $"{file}:7:43: source.event_time.idle_timeout: must be a positive duration, got 0s",
                $"{file}:9:3: sink.consol: unknown sink connector 'consol'; did you mean 'console'?",
                $"{file}: 4 problems",
            ],
            lines);
    }

    [Fact]
    public async Task Validate_example_exits_0_with_a_summary()
    {
        var example = Path.Combine(RepoRoot, "examples", "orders-to-parquet.yaml");
        var (exit, stdout, stderr) = await RunAsync("validate", example);
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Equal($"{example}: valid (source generator(orders), 4 transform steps, sink file(parquet))", stdout.Trim());
    }

    [Fact]
    public async Task Usage_errors_exit_2()
    {
        var (missingArg, _, err1) = await RunAsync("validate");
        Assert.Equal(2, missingArg);
        Assert.Contains("aietl:", err1, StringComparison.Ordinal);

        var (unknownCommand, _, _) = await RunAsync("valdate", "x.yaml");
        Assert.Equal(2, unknownCommand);

        var (missingFile, _, err3) = await RunAsync("validate", Path.Combine(_dir, "nope.yaml"));
        Assert.Equal(2, missingFile);
        Assert.Contains("file not found", err3, StringComparison.Ordinal);
    }
}
