using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AiEtl.Engine.Hosting;

/// <summary>How an embedded pipeline runs.</summary>
public sealed class AietlPipelineOptions
{
    /// <summary>The connectors the spec may use; add families with their extension (e.g. <c>AddPostgres()</c>).</summary>
    public ConnectorRegistry Connectors { get; set; } = BuiltinConnectors.Create();
    /// <summary>Ignore existing checkpoints and start over.</summary>
    public bool Fresh { get; set; }
    /// <summary>How long <see cref="IHostedService.StopAsync"/> may drain before the run is aborted (default 30 s).</summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Overrides the checkpoint store the spec implies (checkpoint.dir, or state/NAME under exactly-once).</summary>
    public ICheckpointStore? CheckpointStore { get; set; }
    /// <summary>Parallelism override.</summary>
    public int? Parallelism { get; set; }
    /// <summary>Keep the final checkpoint of the run (taken when the host stops it) as this named savepoint.</summary>
    public string? Savepoint { get; set; }
    /// <summary>Restore from this savepoint instead of the latest checkpoint.</summary>
    public string? FromSavepoint { get; set; }
    /// <summary>Where the runtime logs (scopes pipeline / operator / partition); none when null.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }
    /// <summary>Serve /metrics, /healthz, /readyz and /status on this port while the pipeline runs (null: no endpoint).</summary>
    public int? MetricsPort { get; set; }
}

/// <summary>
/// Runs one pipeline inside any .NET process as an <see cref="IHostedService"/>: <see cref="StartAsync"/> plans it
/// (an invalid spec throws there) and starts it in the background; <see cref="StopAsync"/> stops it as the first
/// Ctrl-C of <c>aietl run</c> does — sources stop, in-flight batches drain, a final checkpoint commits — and
/// aborts when <see cref="AietlPipelineOptions.StopTimeout"/> or the host's stop token runs out.
/// </summary>
public sealed class AietlPipelineService : IHostedService, IAsyncDisposable
{
    private readonly Func<PipelineSpec> _spec;
    private readonly AietlPipelineOptions _options;
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _abort = new();
    private EngineMetrics? _metrics;
    private JsonLinesDeadLetterOutput? _deadLetters;
    private OpsEndpoint? _ops;

    public AietlPipelineService(Func<PipelineSpec> spec, AietlPipelineOptions options)
    {
        _spec = spec ?? throw new ArgumentNullException(nameof(spec));
        _options = options ?? throw new ArgumentNullException(nameof(options));
    }

    /// <summary>The running pipeline: completes when it ends, stops or fails (with its <see cref="PipelineFailedException"/>).</summary>
    public Task<JobResult> Completion { get; private set; } = Task.FromException<JobResult>(new InvalidOperationException("the pipeline has not started"));

    /// <summary>The engine metrics of the run (null before start).</summary>
    public EngineMetrics? Metrics => _metrics;

    /// <summary>The pipeline's name (after start).</summary>
    public string? Name { get; private set; }

    /// <summary>The running job (after start): state, readiness, last checkpoint.</summary>
    public JobRunner? Runner { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var spec = _spec();
        Name = spec.Name;
        var plan = Planner.Plan(spec, _options.Connectors, _options.Parallelism);
        var store = _options.CheckpointStore ?? StoreFor(spec, out _);
        var interval = spec.Checkpoint?.Interval ?? (_options.CheckpointStore != null || spec.Checkpoint?.Dir != null || spec.EffectiveDelivery == DeliveryGuarantee.ExactlyOnce ? TimeSpan.FromSeconds(10) : null);
        if (_options.Fresh) store.DiscardCheckpoints();
        _metrics = new EngineMetrics(spec.Secrets.Redact(spec.Name)); // labels, /status, client ids: the name may be interpolated from a secret
        _deadLetters = new JsonLinesDeadLetterOutput(spec.DeadLetterFile, spec.Name);
        var runner = new JobRunner(plan.Graph, new JobOptions
        {
            CheckpointInterval = interval,
            Store = store,
            Restore = !_options.Fresh,
            DeadLetters = new RedactingDeadLetterOutput(_deadLetters, spec.Secrets),
            Metrics = _metrics,
            Savepoint = _options.Savepoint,
            RestoreFromSavepoint = _options.FromSavepoint,
            LoggerFactory = _options.LoggerFactory,
            Secrets = spec.Secrets,
        });
        Runner = runner;
        if (_options.MetricsPort is { } port) _ops = new OpsEndpoint(port, runner);
        Completion = Task.Run(() => runner.RunAsync(_stop.Token, _abort.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _abort.CancelAfter(_options.StopTimeout);
        using var reg = cancellationToken.Register(() => _abort.Cancel());
        try
        {
            await Completion.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
        }
    }

    internal static ICheckpointStore StoreFor(PipelineSpec spec, out bool durable)
    {
        var dir = spec.Checkpoint?.Dir;
        if (dir == null && spec.EffectiveDelivery == DeliveryGuarantee.ExactlyOnce) dir = Path.Combine("state", spec.Name);
        durable = dir != null;
        return dir == null ? new InMemoryCheckpointStore() : new DirectoryCheckpointStore(dir, spec.Checkpoint?.Keep ?? 3);
    }

    public async ValueTask DisposeAsync()
    {
        if (!Completion.IsCompleted) await StopAsync(CancellationToken.None).ConfigureAwait(false);
        if (_ops != null) await _ops.DisposeAsync().ConfigureAwait(false);
        if (_deadLetters != null) await _deadLetters.DisposeAsync().ConfigureAwait(false);
        _metrics?.Dispose();
        _stop.Dispose();
        _abort.Dispose();
    }
}

/// <summary>Registration of embedded pipelines.</summary>
public static class AietlServiceCollectionExtensions
{
    /// <summary>Runs the pipeline in the YAML file at <paramref name="specPath"/> while the host runs.</summary>
    public static IServiceCollection AddAietlPipeline(this IServiceCollection services, string specPath, Action<AietlPipelineOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(specPath);
        return services.AddAietlPipeline(() =>
        {
            var loaded = PipelineSpecLoader.Load(specPath);
            if (loaded.Spec is not { } spec || !loaded.IsValid)
                throw new InvalidOperationException($"invalid pipeline spec {specPath}:{Environment.NewLine}{string.Join(Environment.NewLine, loaded.FormatErrors())}");
            return spec;
        }, configure);
    }

    /// <summary>Runs <paramref name="spec"/> while the host runs.</summary>
    public static IServiceCollection AddAietlPipeline(this IServiceCollection services, PipelineSpec spec, Action<AietlPipelineOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return services.AddAietlPipeline(() => spec, configure);
    }

    private static IServiceCollection AddAietlPipeline(this IServiceCollection services, Func<PipelineSpec> spec, Action<AietlPipelineOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new AietlPipelineOptions();
        configure?.Invoke(options);
        services.AddSingleton(sp =>
        {
            // The host's logging (its providers and levels) unless the caller chose a factory.
            options.LoggerFactory ??= sp.GetService<ILoggerFactory>();
            return new AietlPipelineService(spec, options);
        });
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<AietlPipelineService>());
        return services;
    }
}
