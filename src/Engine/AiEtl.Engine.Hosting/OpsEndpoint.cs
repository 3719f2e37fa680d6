using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using AiEtl.Engine.Runtime;

namespace AiEtl.Engine.Hosting;

/// <summary>
/// The HTTP endpoint of a long-running pipeline process: <c>/metrics</c> (Prometheus text format),
/// <c>/healthz</c> (liveness: 200 while the process serves requests and the run has not failed),
/// <c>/readyz</c> (readiness: 200 once every source reader is assigned and the first checkpoint is taken, else 503)
/// and <c>/status</c> (JSON, read by <c>aietl status</c>). Plain <see cref="HttpListener"/>, no web framework.
/// </summary>
public sealed class OpsEndpoint : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly JobRunner _runner;
    private readonly EngineMetrics _metrics;
    private readonly PrometheusExposition _exposition;
    private readonly DateTime _started = DateTime.UtcNow;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _loop;

    /// <summary>Listens on <paramref name="port"/> on every interface (<c>host</c> "+"), or on the given host name.</summary>
    public OpsEndpoint(int port, JobRunner runner, string host = "+")
    {
        _runner = runner ?? throw new ArgumentNullException(nameof(runner));
        _metrics = runner.Metrics;
        _exposition = new PrometheusExposition(_metrics)
        {
            ExtraGauges = () =>
            [
                new("aietl_ready", _runner.IsReady ? 1 : 0),
                new("aietl_sources_assigned", _runner.SourcesAssigned),
                new("aietl_last_checkpoint_id", _runner.LastCheckpointId),
            ],
        };
        Port = port;
        _listener.Prefixes.Add($"http://{host}:{port.ToString(CultureInfo.InvariantCulture)}/");
        try
        {
            _listener.Start();
        }
        catch (HttpListenerException e)
        {
            _exposition.Dispose();
            throw new InvalidOperationException($"cannot listen on port {port} for metrics and health: {e.Message}", e);
        }
        _loop = Task.Run(() => LoopAsync(_cts.Token), CancellationToken.None);
    }

    public int Port { get; }

    /// <summary>The current metrics in the Prometheus text format (also served at <c>/metrics</c>).</summary>
    public string Scrape() => _exposition.Scrape();

    private async Task LoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => Serve(ctx), CancellationToken.None);
        }
    }

    private void Serve(HttpListenerContext ctx)
    {
        try
        {
            var path = ctx.Request.Url?.AbsolutePath ?? "/";
            switch (path)
            {
                case "/metrics":
                    Reply(ctx, 200, "text/plain; version=0.0.4; charset=utf-8", Scrape());
                    break;
                case "/healthz" or "/livez":
                {
                    var failed = _runner.State == JobState.Failed;
                    Reply(ctx, failed ? 503 : 200, "text/plain; charset=utf-8", failed ? "failed\n" : "alive\n");
                    break;
                }
                case "/readyz":
                {
                    var ready = _runner.IsReady;
                    Reply(ctx, ready ? 200 : 503, "text/plain; charset=utf-8",
                        ready ? "ready\n" : $"not ready: state {_runner.State}, {_runner.SourcesAssigned}/{_runner.SourceTasks} sources assigned, last checkpoint {_runner.LastCheckpointId}\n");
                    break;
                }
                case "/status" or "/":
                    Reply(ctx, 200, "application/json", StatusJson());
                    break;
                default:
                    Reply(ctx, 404, "text/plain; charset=utf-8", "not found: /metrics /healthz /readyz /status\n");
                    break;
            }
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // The client went away.
        }
    }

    /// <summary>The body of <c>/status</c>.</summary>
    public string StatusJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("pipeline", _metrics.Pipeline);
            w.WriteString("state", _runner.State.ToString().ToLowerInvariant());
            w.WriteBoolean("live", _runner.State != JobState.Failed);
            w.WriteBoolean("ready", _runner.IsReady);
            w.WriteNumber("sources_assigned", _runner.SourcesAssigned);
            w.WriteNumber("source_tasks", _runner.SourceTasks);
            w.WriteNumber("last_checkpoint", _runner.LastCheckpointId);
            w.WriteNumber("checkpoints", Interlocked.Read(ref _metrics.CheckpointsCompleted));
            w.WriteNumber("rows_in", Interlocked.Read(ref _metrics.SourceRows));
            w.WriteNumber("rows_out", Interlocked.Read(ref _metrics.SinkRows));
            w.WriteNumber("dead_letters", Interlocked.Read(ref _metrics.DeadLetters));
            w.WriteNumber("uptime_s", Math.Round((DateTime.UtcNow - _started).TotalSeconds, 1));
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void Reply(HttpListenerContext ctx, int status, string contentType, string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = contentType;
        ctx.Response.ContentLength64 = bytes.Length;
        ctx.Response.OutputStream.Write(bytes);
        ctx.Response.OutputStream.Close();
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        _listener.Close();
        await _loop.ConfigureAwait(false);
        _exposition.Dispose();
        _cts.Dispose();
    }
}
