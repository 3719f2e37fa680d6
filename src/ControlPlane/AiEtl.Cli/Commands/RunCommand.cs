using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Postgres;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.Engine.Hosting;
using Microsoft.Extensions.Logging;

namespace AiEtl.Cli.Commands;

/// <summary><c>aietl run FILE</c>: runs a pipeline until its input ends or it is stopped.</summary>
internal static class RunCommand
{
    /// <summary>How long tasks get to unwind after an abort before the process exits anyway.</summary>
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(5);

    /// <summary>How long a stop/abort message may take to reach stderr before the caller moves on.</summary>
    private static readonly TimeSpan NoticeWait = TimeSpan.FromMilliseconds(200);

    /// <summary>What <c>aietl run</c> was asked to do.</summary>
    internal sealed record RunSettings(string Path, bool Fresh, int? Parallelism, bool Progress, string StopTimeout,
        string? Savepoint = null, string? FromSavepoint = null, string LogLevel = "information", string LogFormat = "text",
        int? MetricsPort = null, string? OtlpEndpoint = null);

    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The pipeline spec (YAML)" };
        var fresh = new Option<bool>("--fresh") { Description = "Ignore existing checkpoints and start from the beginning (output is rewritten; savepoints are kept)" };
        var parallelism = new Option<int?>("--parallelism", "-p") { Description = "Parallelism per operator (default: the spec's, else the number of cores)" };
        var noProgress = new Option<bool>("--no-progress") { Description = "Do not print the live progress line" };
        var stopTimeout = new Option<string>("--stop-timeout") { Description = "How long a graceful stop may take before it aborts (default 30s)", DefaultValueFactory = _ => "30s" };
        var savepoint = new Option<string?>("--savepoint") { Description = "Keep the final checkpoint (taken at the first Ctrl-C / SIGTERM or at the end of input) as savepoint NAME; never removed by checkpoint.keep" };
        var fromSavepoint = new Option<string?>("--from-savepoint") { Description = "Resume from savepoint NAME instead of the latest checkpoint (newer checkpoints are discarded)" };
        var logLevel = new Option<string>("--log-level") { Description = "trace | debug | information | warning | error | critical | none (default information)", DefaultValueFactory = _ => "information" };
        var logFormat = new Option<string>("--log-format") { Description = "text | json (one JSON object per line on stderr, with the scopes pipeline / operator / partition)", DefaultValueFactory = _ => "text" };
        var metricsPort = new Option<int?>("--metrics-port") { Description = "Serve /metrics (Prometheus), /healthz, /readyz and /status on this port" };
        var otlpEndpoint = new Option<string?>("--otlp-endpoint") { Description = "Export the metrics over OTLP (HTTP/protobuf) to this collector URL, e.g. http://collector:4318" };
        var command = new Command("run", "Run a pipeline until its input ends or Ctrl-C / SIGTERM (a second one aborts)")
        {
            file, fresh, parallelism, noProgress, stopTimeout, savepoint, fromSavepoint, logLevel, logFormat, metricsPort, otlpEndpoint,
        };
        command.SetAction(parse => Execute(new RunSettings(parse.GetRequiredValue(file), parse.GetValue(fresh), parse.GetValue(parallelism),
            !parse.GetValue(noProgress), parse.GetValue(stopTimeout) ?? "30s", parse.GetValue(savepoint), parse.GetValue(fromSavepoint),
            parse.GetValue(logLevel) ?? "information", parse.GetValue(logFormat) ?? "text", parse.GetValue(metricsPort), parse.GetValue(otlpEndpoint))));
        return command;
    }

    internal static int Execute(RunSettings settings)
    {
        var path = settings.Path;
        var fresh = settings.Fresh;
        if (!SpecDuration.TryParse(settings.StopTimeout, out var stopTimeout, out var durationError))
        {
            Console.Error.WriteLine($"aietl: --stop-timeout: {durationError}");
            return ExitCodes.InvalidSpecOrUsage;
        }
        if (Observability.UsageError(settings) is { } usage)
        {
            Console.Error.WriteLine($"aietl: {usage}");
            return ExitCodes.InvalidSpecOrUsage;
        }
        using var loggerFactory = Observability.CreateLoggerFactory(settings);
        if (PlanOrReport(path, settings.Parallelism, out var plan, loggerFactory) is { } planFailed) return planFailed;
        var spec = plan!.Spec;

        var store = CheckpointStoreFor(spec, out var interval);
        if ((settings.Savepoint != null || settings.FromSavepoint != null) && store is not DirectoryCheckpointStore)
        {
            Console.Error.WriteLine($"aietl: {path}: savepoints need a checkpoint directory (checkpoint.dir, or delivery: exactly-once)");
            return ExitCodes.InvalidSpecOrUsage;
        }
        if (fresh) store.DiscardCheckpoints();
        var dlPath = spec.DeadLetter?.Target?.Describe() ?? spec.DeadLetterFile;
        using var metrics = new EngineMetrics(spec.Secrets.Redact(spec.Name)); // labels, /status, client ids: the name may be interpolated from a secret
        IDeadLetterOutput deadLetters;
        try
        {
            deadLetters = Connectors(loggerFactory).CreateDeadLetterOutput(spec);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"aietl: {path}: {spec.Secrets.Redact(e.Message)}");
            return ExitCodes.InvalidSpecOrUsage;
        }
        var options = new JobOptions
        {
            CheckpointInterval = interval,
            Store = store,
            Restore = !fresh,
            DeadLetters = deadLetters,
            Metrics = metrics,
            Savepoint = settings.Savepoint,
            RestoreFromSavepoint = settings.FromSavepoint,
            LoggerFactory = loggerFactory,
            Secrets = spec.Secrets,
        };

        using var stop = new CancellationTokenSource();
        using var abort = new CancellationTokenSource();
        var signals = 0;
        // Signal handlers must not block: the messages go out without the console lock (see StderrNotice),
        // which a console sink blocked on a full stdout pipe would hold forever.
        void OnSignal(PosixSignalContext ctx)
        {
            ctx.Cancel = true;
            if (Interlocked.Increment(ref signals) == 1)
            {
                var sp = settings.Savepoint != null ? $" (savepoint {settings.Savepoint})" : "";
                StderrNotice.Write($"{Environment.NewLine}aietl: stopping: draining in-flight batches and taking a final checkpoint{sp} (again to abort)", NoticeWait);
                stop.Cancel();
                abort.CancelAfter(stopTimeout);
            }
            else
            {
                StderrNotice.Write("aietl: aborting", NoticeWait);
                abort.Cancel();
            }
        }

        // The deadline after an abort is hard: a task stuck in a call that ignores cancellation (a write to a pipe
        // nobody reads, a hung connection) must not keep the process alive. It runs on its own thread because the
        // main thread may itself be blocked (printing progress behind the console lock, for one).
        var exiting = 0; // 1: Execute is returning normally; 2: the deadline fired and the process is exiting
        void ArmDeadline()
        {
            new Thread(() =>
            {
                Thread.Sleep(AbortGrace);
                if (Interlocked.CompareExchange(ref exiting, 2, 0) != 0) return;
                StderrNotice.Write($"aietl: aborted; tasks still blocked {AbortGrace.TotalSeconds:0}s after the abort were abandoned; the next run resumes from the last complete checkpoint", NoticeWait);
                Environment.Exit(ExitCodes.Aborted);
            })
            { IsBackground = true, Name = "aietl abort deadline" }.Start();
        }
        using var deadline = abort.Token.Register(ArmDeadline);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        var sw = Stopwatch.StartNew();
        var runner = new JobRunner(plan.Graph, options);
        OpsEndpoint? ops = null;
        IDisposable? otlp = null;
        try
        {
            if (settings.MetricsPort is { } port)
            {
                ops = new OpsEndpoint(port, runner);
                Console.Error.WriteLine($"aietl: metrics and health on port {port} (/metrics /healthz /readyz /status)");
            }
            if (settings.OtlpEndpoint is { } endpoint) otlp = Observability.StartOtlp(endpoint, metrics);
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine($"aietl: {e.Message}");
            return ExitCodes.InvalidSpecOrUsage;
        }
        try
        {
            var task = runner.RunAsync(stop.Token, abort.Token);
            var printer = settings.Progress && settings.LogFormat != "json" ? new ProgressPrinter(metrics) : null;
            while (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(TimeSpan.FromMilliseconds(printer != null && !Console.IsErrorRedirected ? 500 : 1000)))
                printer?.Tick(sw.Elapsed, final: false);
            printer?.Tick(sw.Elapsed, final: true);
            var result = task.GetAwaiter().GetResult();
            deadLetters.DisposeAsync().AsTask().GetAwaiter().GetResult();
            var restored = result.RestoredFromCheckpoint is { } id ? $", resumed from {(settings.FromSavepoint != null ? $"savepoint {settings.FromSavepoint} (checkpoint {id})" : $"checkpoint {id}")}" : "";
            var saved = settings.Savepoint != null ? $", savepoint {settings.Savepoint} written" : "";
            Console.Error.WriteLine(
                $"aietl: {(result.Stopped ? "stopped (drained)" : "finished")}: {result.SourceRows:N0} rows in, {result.SinkRows:N0} rows out, " +
                $"{result.DeadLetters:N0} dead letters{(result.DeadLetters > 0 ? $" ({spec.Secrets.Redact(dlPath)})" : "")}, {result.CheckpointsCompleted} checkpoints{restored}{saved}, {sw.Elapsed.TotalSeconds:0.0}s");
            return ExitCodes.Ok;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("aietl: aborted; the next run resumes from the last complete checkpoint" + (settings.Savepoint != null ? $" (savepoint {settings.Savepoint} was not written)" : ""));
            return ExitCodes.Aborted;
        }
        catch (PipelineFailedException e)
        {
            Console.Error.WriteLine($"aietl: pipeline failed: {spec.Secrets.Redact(e.Message)}");
            return ExitCodes.PipelineFailed;
        }
        catch (CheckpointIncompatibleException e)
        {
            Console.Error.WriteLine($"aietl: {spec.Secrets.Redact(e.Message)}");
            return ExitCodes.InvalidSpecOrUsage;
        }
        catch (InvalidDataException e)
        {
            Console.Error.WriteLine($"aietl: {spec.Secrets.Redact(e.Message)}");
            return ExitCodes.InvalidSpecOrUsage;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Never let the runtime print an unexpected exception as is: its message may quote a connection detail.
            Console.Error.WriteLine($"aietl: pipeline failed: {spec.Secrets.Redact(e.GetType().Name + ": " + e.Message)}");
            return ExitCodes.PipelineFailed;
        }
        finally
        {
            // The deadline fired while this thread was finishing: let Environment.Exit complete with its exit code.
            if (Interlocked.CompareExchange(ref exiting, 1, 0) == 2) Thread.Sleep(Timeout.Infinite);
            otlp?.Dispose();
            ops?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Every connector this executable ships: the built-in ones and the Kafka family.</summary>
    internal static ConnectorRegistry Connectors(ILoggerFactory? logging = null) =>
        ClickHouseConnectors.Register(KafkaConnectors.Register(BuiltinConnectors.Create(), logging?.CreateLogger("AiEtl.Engine.Kafka"))).AddPostgres();

    internal static ICheckpointStore CheckpointStoreFor(PipelineSpec spec, out TimeSpan? interval)
    {
        var dir = spec.Checkpoint?.Dir;
        if (dir == null && spec.EffectiveDelivery == DeliveryGuarantee.ExactlyOnce) dir = Path.Combine("state", spec.Name);
        if (dir == null)
        {
            interval = null;
            return new InMemoryCheckpointStore();
        }
        interval = spec.Checkpoint?.Interval ?? TimeSpan.FromSeconds(10);
        return new DirectoryCheckpointStore(dir, spec.Checkpoint?.Keep ?? 3);
    }

    /// <summary>Loads and plans the spec; null when it worked, else the exit code (problems are printed).</summary>
    internal static int? PlanOrReport(string path, int? parallelism, out PipelinePlan? plan, ILoggerFactory? logging = null)
    {
        plan = null;
        var loaded = PipelineSpecLoader.Load(path);
        if (loaded.Spec is not { } spec || !loaded.IsValid)
        {
            foreach (var line in loaded.FormatErrors()) Console.Error.WriteLine(line);
            return ExitCodes.InvalidSpecOrUsage;
        }
        try
        {
            plan = Planner.Plan(spec, Connectors(logging), parallelism);
            return null;
        }
        catch (PlanException e)
        {
            foreach (var err in e.Errors) Console.Error.WriteLine(spec.Secrets.Redact(err.Format(path)));
            return ExitCodes.InvalidSpecOrUsage;
        }
        catch (AiEtl.Engine.Connectors.ConnectorConfigException e)
        {
            // Connector options the spec schema cannot check (e.g. column options).
            Console.Error.WriteLine($"{path}: {spec.Secrets.Redact(e.Message)}");
            return ExitCodes.InvalidSpecOrUsage;
        }
        catch (KafkaSourceException e)
        {
            // Planning asks the brokers for partition counts: a missing topic or unreachable cluster.
            Console.Error.WriteLine($"aietl: {path}: {spec.Secrets.Redact(e.Message)}");
            return ExitCodes.PipelineFailed;
        }
    }

    /// <summary>The live progress line: rows/s in and out, dead letters, watermark lag, backpressure, checkpoints.</summary>
    private sealed class ProgressPrinter(EngineMetrics m)
    {
        private long _lastIn, _lastOut, _lastBp;
        private TimeSpan _last;
        private TimeSpan _lastPrinted = TimeSpan.FromSeconds(-100);

        public void Tick(TimeSpan now, bool final)
        {
            var dt = (now - _last).TotalSeconds;
            if (dt <= 0) return;
            var rin = Interlocked.Read(ref m.SourceRows);
            var rout = Interlocked.Read(ref m.SinkRows);
            var bp = Interlocked.Read(ref m.BackpressureTicks);
            var bpPct = (bp - _lastBp) / (double)Stopwatch.Frequency / dt * 100;
            var lag = m.WatermarkLagMs > 0 && m.WatermarkLagMs < 1e12 ? $" | lag {TimeSpan.FromMilliseconds(m.WatermarkLagMs).TotalSeconds:0.0}s" : "";
            var line = string.Create(CultureInfo.InvariantCulture,
                $"in {rin:N0} ({(rin - _lastIn) / dt:N0}/s) | out {rout:N0} ({(rout - _lastOut) / dt:N0}/s) | dead letters {Interlocked.Read(ref m.DeadLetters):N0}{lag} | backpressure {Math.Min(bpPct, 100):0}% | checkpoints {Interlocked.Read(ref m.CheckpointsCompleted)} | {now.TotalSeconds:0}s");
            _lastIn = rin; _lastOut = rout; _lastBp = bp; _last = now;
            if (!Console.IsErrorRedirected)
            {
                Console.Error.Write("\r" + line.PadRight(110));
                if (final) Console.Error.WriteLine();
            }
            else if (final || (now - _lastPrinted).TotalSeconds >= 10)
            {
                Console.Error.WriteLine(line);
                _lastPrinted = now;
            }
        }
    }
}

/// <summary><c>aietl explain FILE</c>: prints the logical and the physical plan.</summary>
internal static class ExplainCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The pipeline spec (YAML)" };
        var parallelism = new Option<int?>("--parallelism", "-p") { Description = "Parallelism per operator (default: the spec's, else the number of cores)" };
        var command = new Command("explain", "Print the logical plan and the physical plan (vertices, operators, parallelism, partitioning)")
        {
            file, parallelism,
        };
        command.SetAction(parse =>
        {
            if (RunCommand.PlanOrReport(parse.GetRequiredValue(file), parse.GetValue(parallelism), out var plan) is { } failed) return failed;
            // Plans quote connector options (topics, tables, urls): interpolated values and secrets show as ***.
            Console.Out.Write(plan!.Spec.Secrets.Redact(plan.Explain()));
            return ExitCodes.Ok;
        });
        return command;
    }
}
