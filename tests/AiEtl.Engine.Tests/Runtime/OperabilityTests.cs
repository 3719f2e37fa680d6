using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using AiEtl.Engine.Tests.Support;
using AiEtl.TestSupport;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>
/// Logs, metrics and health of a running <c>aietl run</c> child process: the Prometheus endpoint carries the engine
/// metrics, readiness flips after the first checkpoint, <c>aietl status</c> reads it, JSON log lines parse and carry
/// the pipeline / operator / partition scopes, and OTLP export reaches a collector.
/// </summary>
public sealed class OperabilityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-ops-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private string Spec(string generator, string interval)
    {
        var path = Path.Combine(_dir, "ops.yaml");
        File.WriteAllText(path, $$"""
            name: ops
            source:
              generator: { kind: orders, {{generator}}, seed: 1 }
            transform:
              - filter: "status = 'paid'"
              - running_count: { key: customer_id, as: n }
            sink:
              null: {}
            checkpoint: { interval: {{interval}}, dir: {{Path.Combine(_dir, "state")}} }
            parallelism: 2
            """);
        return path;
    }

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient http, int port, string path)
    {
        try
        {
            using var r = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"), TestContext.Current.CancellationToken);
            return (r.StatusCode, await r.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }
        catch (HttpRequestException)
        {
            return (0, "");
        }
    }

    [Fact]
    public async Task Metrics_readiness_status_and_json_logs_of_a_running_pipeline()
    {
        var ct = TestContext.Current.CancellationToken;
        // The first periodic checkpoint comes after 4 s: long enough to see the endpoint answer "not ready" first.
        // A free port can be taken by someone else before aietl binds it (other tests open connections all the
        // time): then aietl says so and exits, and the test starts it again on another port.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        int port;
        Process p;
        Task<string> stderr;
        for (var attempt = 1; ; attempt++)
        {
            port = FreePort();
            p = Cli.Start(_dir, "run", Spec("rate: 50000", "4s"), "--no-progress", "--metrics-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--log-format", "json", "--log-level", "debug");
            var printed = new System.Text.StringBuilder();
            var proc = p;
            stderr = Task.Run(async () =>
            {
                while (await proc.StandardError.ReadLineAsync(ct) is { } line)
                    lock (printed) printed.AppendLine(line);
                lock (printed) return printed.ToString();
            }, ct);
            // Up once aietl says it listens: only then is the port its own (another process may hold a port
            // that was free a moment ago, and would answer in its place).
            var listening = $"metrics and health on port {port}";
            var up = Stopwatch.StartNew();
            while (!p.HasExited && up.Elapsed < TimeSpan.FromSeconds(60))
            {
                lock (printed)
                    if (printed.ToString().Contains(listening, StringComparison.Ordinal)) break;
                await Task.Delay(20, ct);
            }
            if (!p.HasExited) break;
            var early = await stderr;
            p.Dispose();
            if (attempt == 3 || !early.Contains($"cannot listen on port {port}", StringComparison.Ordinal))
                Assert.Fail($"aietl run exited before its endpoint answered: {early}");
        }
        using var _ = p;
        var sw = Stopwatch.StartNew();
        var sawNotReady = false;
        var ready = false;
        while (sw.Elapsed < TimeSpan.FromSeconds(90))
        {
            if (p.HasExited) Assert.Fail($"aietl run exited ({p.ExitCode}) before it became ready: {await stderr}");
            var (status, body) = await GetAsync(http, port, "/readyz");
            if (status == HttpStatusCode.ServiceUnavailable)
            {
                sawNotReady = true;
                Assert.Contains("not ready", body);
                // Alive while not ready.
                Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, port, "/healthz")).Status);
            }
            else if (status == HttpStatusCode.OK)
            {
                ready = true;
                break;
            }
            await Task.Delay(50, ct);
        }
        Assert.True(sawNotReady, "the endpoint never answered 'not ready' before the first checkpoint");
        Assert.True(ready, "the pipeline never became ready");
        var statusDoc = JsonDocument.Parse((await GetAsync(http, port, "/status")).Body).RootElement;
        Assert.True(statusDoc.GetProperty("ready").GetBoolean());
        Assert.True(statusDoc.GetProperty("last_checkpoint").GetInt64() >= 1);
        Assert.Equal("ops", statusDoc.GetProperty("pipeline").GetString());

        var (metricsStatus, metrics) = await GetAsync(http, port, "/metrics");
        Assert.Equal(HttpStatusCode.OK, metricsStatus);
        Assert.Matches(@"aietl_operator_rows_in_total\{pipeline=""ops"",operator=""filter""\} [1-9]\d*", metrics);
        Assert.Matches(@"aietl_operator_rows_out_total\{pipeline=""ops"",operator=""running_count""\} [1-9]\d*", metrics);
        Assert.Matches(@"aietl_checkpoint_duration_milliseconds_count\{pipeline=""ops""\} [1-9]\d*", metrics);
        Assert.Contains("# TYPE aietl_operator_batch_latency_milliseconds histogram", metrics);
        Assert.Contains(@"aietl_ready{pipeline=""ops""} 1", metrics);

        var (statusCode, statusOut, statusErr) = await Cli.RunAsync(_dir, TimeSpan.FromSeconds(60), "status", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(statusCode == 0, statusErr);
        Assert.Contains("ready         yes", statusOut);
        Assert.Contains("pipeline      ops", statusOut);

        await ServerProcess.SignalAndWaitAsync(p, ServerProcess.SIGTERM, TimeSpan.FromSeconds(60), () => stderr, ct);
        var err = await stderr;
        Assert.True(p.ExitCode == 0, err);

        // Every log line is one JSON object; task lines carry pipeline, operator and partition as scope properties.
        var logs = err.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.NotEmpty(logs);
        var taskLines = logs.Where(l => l.GetProperty("EventId").GetInt32() == 1003).ToList();
        var tasks = logs.Single(l => l.GetProperty("EventId").GetInt32() == 1000).GetProperty("State").GetProperty("Tasks").GetInt32();
        Assert.Equal(4, tasks); // 2 source readers + 2 keyed instances (the null sink is fused)
        Assert.Equal(tasks, taskLines.Count);
        foreach (var l in taskLines)
        {
            var scopes = l.GetProperty("Scopes").EnumerateArray().ToList();
            Assert.Contains(scopes, s => s.TryGetProperty("pipeline", out var v) && v.GetString() == "ops");
            Assert.Contains(scopes, s => s.TryGetProperty("operator", out var v) && v.GetString()!.Length > 0);
            Assert.Contains(scopes, s => s.TryGetProperty("partition", out var v) && v.ValueKind == JsonValueKind.Number);
        }
        Assert.Contains(logs, l => l.GetProperty("EventId").GetInt32() == 1010); // ready
        Assert.Contains(logs, l => l.GetProperty("EventId").GetInt32() == 1007); // final checkpoint
        // No per-row or per-batch lines even at debug: a few lines per task and per checkpoint.
        var checkpoints = statusDoc.GetProperty("checkpoints").GetInt64();
        Assert.True(logs.Count < 40 + 2 * checkpoints, $"{logs.Count} log lines");
    }

    [Fact]
    public async Task Not_running_is_reported_by_status_with_exit_1()
    {
        var (code, _, err) = await Cli.RunAsync(_dir, TimeSpan.FromSeconds(60), "status", "--port", FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, code);
        Assert.Contains("no pipeline answers", err);
    }

    [Fact]
    public async Task Metrics_are_exported_over_otlp_to_a_collector()
    {
        var ct = TestContext.Current.CancellationToken;
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var received = new List<(string Path, string ContentType, byte[] Body)>();
        var collector = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext ctx;
                try { ctx = await listener.GetContextAsync(); }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
                using var ms = new MemoryStream();
                await ctx.Request.InputStream.CopyToAsync(ms, ct);
                lock (received) received.Add((ctx.Request.Url!.AbsolutePath, ctx.Request.ContentType ?? "", ms.ToArray()));
                ctx.Response.StatusCode = 200;
                ctx.Response.Close();
            }
        }, ct);

        var env = new Dictionary<string, string> { ["OTEL_METRIC_EXPORT_INTERVAL"] = "300" };
        using var p = Cli.Start(_dir, env, "run", Spec("rows: 300000", "1s"), "--no-progress", "--otlp-endpoint", $"http://127.0.0.1:{port}");
        var stderr = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        Assert.True(p.ExitCode == 0, await stderr);
        listener.Stop();
        await collector;

        List<(string Path, string ContentType, byte[] Body)> got;
        lock (received) got = [.. received];
        Assert.NotEmpty(got);
        Assert.All(got, r => Assert.Equal("/v1/metrics", r.Path));
        Assert.All(got, r => Assert.Contains("application/x-protobuf", r.ContentType));
        // Protobuf keeps strings as UTF-8 bytes: the meter and the engine's instruments are in the export.
        var all = Encoding.UTF8.GetString(got.SelectMany(r => r.Body).ToArray());
        Assert.Contains("AiEtl.Engine", all);
        Assert.Contains("aietl.operator.rows_in", all);
        Assert.Contains("aietl.checkpoint.duration", all);
    }
}
