using AiEtl.Engine.Runtime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace AiEtl.Cli.Commands;

/// <summary>Logs (console, text or JSON, on stderr) and OTLP metric export for <c>aietl run</c>.</summary>
internal static class Observability
{
    private static readonly string[] Levels = ["trace", "debug", "information", "warning", "error", "critical", "none"];

    public static string? UsageError(RunCommand.RunSettings s)
    {
        if (!Levels.Contains(s.LogLevel.ToLowerInvariant()))
            return $"--log-level: '{s.LogLevel}' is not one of {string.Join(", ", Levels)}";
        if (s.LogFormat is not ("text" or "json"))
            return $"--log-format: '{s.LogFormat}' is not text or json";
        if (s.MetricsPort is { } port && port is < 1 or > 65535)
            return $"--metrics-port: {port} is not a TCP port (1-65535)";
        if (s.OtlpEndpoint is { } url && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
            return $"--otlp-endpoint: '{url}' is not an http(s) URL";
        foreach (var (option, name) in new[] { ("--savepoint", s.Savepoint), ("--from-savepoint", s.FromSavepoint) })
            if (name != null && !ICheckpointStore.IsValidSavepointName(name))
                return $"{option}: '{name}' is not a savepoint name (letters, digits, '.', '_', '-'; at most 100 characters)";
        return null;
    }

    private static LogLevel Level(string text) => text.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "critical" => LogLevel.Critical,
        "none" => LogLevel.None,
        _ => LogLevel.Information,
    };

    /// <summary>Console logging on stderr (stdout stays the console sink's): one line per event, scopes included.</summary>
    public static ILoggerFactory CreateLoggerFactory(RunCommand.RunSettings s) => LoggerFactory.Create(b =>
    {
        b.SetMinimumLevel(Level(s.LogLevel));
        b.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        if (s.LogFormat == "json")
        {
            b.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
            });
        }
        else
        {
            b.AddSimpleConsole(o =>
            {
                o.IncludeScopes = true;
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }
    });

    /// <summary>
    /// Exports the run's <c>AiEtl.Engine</c> meter over OTLP/HTTP (protobuf) to <paramref name="endpoint"/> (the
    /// <c>/v1/metrics</c> path is added when missing); the export interval follows <c>OTEL_METRIC_EXPORT_INTERVAL</c>
    /// (default 10 s) and the last values are flushed on dispose.
    /// </summary>
    public static IDisposable StartOtlp(string endpoint, EngineMetrics metrics)
    {
        var uri = new Uri(endpoint);
        if (uri.AbsolutePath is "" or "/") uri = new Uri(uri, "/v1/metrics");
        var interval = int.TryParse(Environment.GetEnvironmentVariable("OTEL_METRIC_EXPORT_INTERVAL"), out var ms) && ms > 0 ? ms : 10_000;
        return Sdk.CreateMeterProviderBuilder()
            .AddMeter(EngineMetrics.MeterName)
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Endpoint = uri;
                exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = interval;
            })
            .Build()!;
    }
}
