using System.Diagnostics;
using System.Text;
using AiEtl.TestSupport;

namespace AiEtl.Integration.Tests.Security;

/// <summary>
/// Plants secrets in a spec — an environment variable and a file — and greps every output of <c>aietl</c> for them:
/// <c>explain</c>, stdout and stderr of <c>run</c> (with its progress / metrics line), a failing run whose error quotes the
/// interpolated database name back from the server, the dead-letter file and the checkpoint files.
/// The pipeline loads into ClickHouse over HTTPS (custom CA) as a user with a password.
/// </summary>
public sealed class SecretSweepTests(SecureClickHouseFixture fx) : IClassFixture<SecureClickHouseFixture>, IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // The planted secrets: the database name (environment) and the password (file).
    private const string EnvSecret = "sweepdb_Xq7Kv93Lm";
    private const string MissingDbSecret = "nodb_Zr4Hw81Pt";
    private readonly string _dir = ServerProcess.CreateTempDir("sweep");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string AietlDll()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "AiEtl.Engine.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var suffix = Path.GetRelativePath(Path.Combine(dir.FullName, "tests", "AiEtl.Integration.Tests"), AppContext.BaseDirectory);
        var dll = Path.Combine(dir.FullName, "src", "ControlPlane", "AiEtl.Cli", suffix, "aietl.dll");
        Assert.True(File.Exists(dll), $"aietl.dll not built at {dll}");
        return dll;
    }

    private async Task<(int Code, string Stdout, string Stderr)> Aietl(IDictionary<string, string> env, params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _dir,
        };
        start.ArgumentList.Add(AietlDll());
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in env) start.Environment[k] = v;
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync(Ct);
        var stderr = p.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(3));
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"aietl {string.Join(' ', args)} did not finish: {await stderr}");
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    private string Spec(string name, string databaseVar, string passwordFile, string input, bool create = true) => $$"""
        name: {{name}}
        source:
          file: { path: "{{input}}" }
          schema: { id: { type: int64, required: true }, payload: string }
        sink:
          clickhouse:
            url: "{{fx.Server.HttpsUrl}}"
            ca: "{{fx.Server.Certificates!.CaFile}}"
            user: {{SecureClickHouseFixture.User}}
            password: "${file:{{passwordFile}}}"
            database: "${{{databaseVar}}}"
            table: sweep
            create_table: {{(create ? "true" : "false")}}
            max_retry_time: 0s
        checkpoint: { interval: 100ms, dir: "{{Path.Combine(_dir, "state-" + name)}}" }
        dead_letter: { file: "{{Path.Combine(_dir, "dead-" + name + ".jsonl")}}" }
        """;

    [Fact]
    public async Task Planted_secrets_appear_in_no_output_of_explain_or_run()
    {
        await fx.Server.QueryAsync($"CREATE DATABASE IF NOT EXISTS {EnvSecret}", Ct);
        var passwordFile = Path.Combine(_dir, "ch-password");
        await File.WriteAllTextAsync(passwordFile, SecureClickHouseFixture.Password + "\n", Ct);
        var input = Path.Combine(_dir, "in.jsonl");
        var lines = new StringBuilder();
        for (var i = 0; i < 2000; i++)
        {
            lines.Append(i % 100 == 7 ? $"{{\"id\":\"not-a-number-{i}\"}}\n" : $"{{\"id\":{i},\"payload\":\"p{i}\"}}\n");
        }
        await File.WriteAllTextAsync(input, lines.ToString(), Ct);
        var env = new Dictionary<string, string> { ["AIETL_SWEEP_DB"] = EnvSecret, ["AIETL_SWEEP_MISSING"] = MissingDbSecret };
        var secrets = new[] { EnvSecret, SecureClickHouseFixture.Password, MissingDbSecret };
        var outputs = new List<(string What, string Text)>();

        await File.WriteAllTextAsync(Path.Combine(_dir, "ok.yaml"), Spec("sweep-ok", "AIETL_SWEEP_DB", passwordFile, input), Ct);
        var explain = await Aietl(env, "explain", "ok.yaml");
        Assert.True(explain.Code == 0, explain.Stderr);
        Assert.Contains("clickhouse(***.sweep)", explain.Stdout, StringComparison.Ordinal); // the sink names its database: masked
        outputs.Add(("explain stdout", explain.Stdout));
        outputs.Add(("explain stderr", explain.Stderr));

        var validate = await Aietl(env, "validate", "ok.yaml");
        Assert.True(validate.Code == 0, validate.Stderr);
        outputs.Add(("validate", validate.Stdout + validate.Stderr));

        var run = await Aietl(env, "run", "ok.yaml");
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Contains("20 dead letters", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("in 1,980", run.Stderr, StringComparison.Ordinal); // the progress (metrics) line was printed
        outputs.Add(("run stdout", run.Stdout));
        outputs.Add(("run stderr", run.Stderr));
        Assert.Equal("1980", (await fx.Server.QueryAsync($"SELECT count() FROM {EnvSecret}.sweep", Ct)).Trim());

        // A failing run: the server's error quotes the (interpolated) database name back.
        await File.WriteAllTextAsync(Path.Combine(_dir, "bad.yaml"), Spec("sweep-bad", "AIETL_SWEEP_MISSING", passwordFile, input, create: false), Ct);
        var bad = await Aietl(env, "run", "bad.yaml");
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("***", bad.Stderr, StringComparison.Ordinal);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(bad.Stderr, "(?i)(database|table).*(exist|unknown)"), bad.Stderr);
        outputs.Add(("failing run stdout", bad.Stdout));
        outputs.Add(("failing run stderr", bad.Stderr));

        var dead = await File.ReadAllTextAsync(Path.Combine(_dir, "dead-sweep-ok.jsonl"), Ct);
        Assert.Equal(20, dead.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        outputs.Add(("dead letters", dead));
        var checkpoints = Directory.EnumerateFiles(_dir, "*", SearchOption.AllDirectories)
            .Where(f => f.Contains("state-", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(checkpoints);
        foreach (var f in checkpoints) outputs.Add(($"checkpoint {Path.GetFileName(f)}", Encoding.Latin1.GetString(await File.ReadAllBytesAsync(f, Ct))));

        foreach (var (what, text) in outputs)
            foreach (var s in secrets)
                Assert.False(text.Contains(s, StringComparison.Ordinal), $"{what} shows a planted secret:\n{text}");
    }
}
