using System.Diagnostics;
using System.Text;
using AiEtl.TestSupport;

namespace AiEtl.Integration.Tests.Security;

/// <summary>
/// Plants secrets in a spec — an environment variable and a file — and greps every output of <c>aietl</c> for them:
/// <c>explain</c>, stdout and stderr of <c>run</c> (with its progress / metrics line), a failing run whose error quotes the
/// interpolated database name back from the server, the dead-letter file and the checkpoint files.
/// The pipeline loads into ClickHouse over HTTPS (custom CA) as a user with a password.
/// A second, rate-limited run adds the operations surface: <c>--metrics-port</c> (<c>/metrics</c>, <c>/status</c>,
/// <c>/readyz</c>, <c>/healthz</c> scraped while it runs) and <c>--log-format json --log-level debug</c> (every log line).
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

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Planted_secrets_appear_in_no_metrics_status_or_json_log_line()
    {
        await fx.Server.QueryAsync($"CREATE DATABASE IF NOT EXISTS {EnvSecret}", Ct);
        var passwordFile = Path.Combine(_dir, "ch-password");
        await File.WriteAllTextAsync(passwordFile, SecureClickHouseFixture.Password + "\n", Ct);
        var env = new Dictionary<string, string> { ["AIETL_SWEEP_DB"] = EnvSecret };
        // Generated orders at 1,500 rows/s: the run lasts a few seconds, long enough to scrape it while it runs.
        // The pipeline's name carries the secret too: it labels every metric, /status and every log line's scope.
        var spec = $$"""
            name: "sweep-${AIETL_SWEEP_DB}"
            source:
              generator: { kind: orders, rows: 6000, rate: 1500, seed: 7 }
            sink:
              clickhouse:
                url: "{{fx.Server.HttpsUrl}}"
                ca: "{{fx.Server.Certificates!.CaFile}}"
                user: {{SecureClickHouseFixture.User}}
                password: "${file:{{passwordFile}}}"
                database: "${AIETL_SWEEP_DB}"
                table: sweep_ops
                create_table: true
                order_by: [order_id]
            checkpoint: { interval: 200ms, dir: "{{Path.Combine(_dir, "state-ops")}}" }
            dead_letter: { file: "{{Path.Combine(_dir, "dead-ops.jsonl")}}" }
            """;
        await File.WriteAllTextAsync(Path.Combine(_dir, "ops.yaml"), spec, Ct);
        var port = FreePort();
        var run = Aietl(env, "run", "ops.yaml", "--metrics-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--log-format", "json", "--log-level", "debug");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var scraped = new Dictionary<string, string>();
        while (!run.IsCompleted)
        {
            foreach (var path in new[] { "/metrics", "/status", "/readyz", "/healthz" })
            {
                try
                {
                    using var resp = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"), Ct);
                    var body = await resp.Content.ReadAsStringAsync(Ct);
                    // Keep the richest scrape of each endpoint (the run's metrics only grow).
                    if (!scraped.TryGetValue(path, out var old) || body.Length >= old.Length) scraped[path] = body;
                }
                catch (HttpRequestException)
                {
                    // Not listening yet, or already closed.
                }
            }
            await Task.Delay(150, Ct);
        }
        var (code, stdout, stderr) = await run;
        Assert.True(code == 0, stderr);
        Assert.Equal("6000", (await fx.Server.QueryAsync($"SELECT count() FROM {EnvSecret}.sweep_ops", Ct)).Trim());

        // The endpoints were scraped while the run was live, and showed the run.
        Assert.True(scraped.TryGetValue("/metrics", out var metrics), "/metrics was never scraped during the run");
        Assert.Contains("aietl_operator_rows_in_total", metrics, StringComparison.Ordinal);
        Assert.True(scraped.TryGetValue("/status", out var status), "/status was never scraped during the run");
        Assert.Contains("\"pipeline\":\"sweep-***\"", status, StringComparison.Ordinal);
        Assert.Contains("pipeline=\"sweep-***\"", metrics, StringComparison.Ordinal);

        // Every stderr line but the CLI's own "aietl: ..." lines is one JSON log object; the debug lines are there.
        var logLines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith('{')).ToList();
        Assert.NotEmpty(logLines);
        foreach (var line in logLines) using (System.Text.Json.JsonDocument.Parse(line)) { }
        Assert.Contains(logLines, l => l.Contains("\"LogLevel\":\"Debug\"", StringComparison.Ordinal));
        Assert.Contains(logLines, l => l.Contains("\"operator\"", StringComparison.Ordinal)); // task lines carry their scope
        Assert.Contains(logLines, l => l.Contains("\"pipeline\":\"sweep-***\"", StringComparison.Ordinal));

        var outputs = new List<(string What, string Text)>
        {
            ("run stdout", stdout),
            ("run stderr (JSON log lines)", stderr),
        };
        foreach (var (path, body) in scraped) outputs.Add(($"GET {path} during the run", body));
        foreach (var (what, text) in outputs)
            foreach (var s in new[] { EnvSecret, SecureClickHouseFixture.Password })
                Assert.False(text.Contains(s, StringComparison.Ordinal), $"{what} shows a planted secret:\n{text}");
    }

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
