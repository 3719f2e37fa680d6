using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;

namespace AiEtl.Engine.Planning;

/// <summary>
/// Explicit connector registration: one entry per connector kind (no reflection scanning). Connector
/// families that live in other assemblies (Kafka, ClickHouse, PostgreSQL) add themselves to a registry
/// through <see cref="AddSource"/> / <see cref="AddSink"/> / <see cref="AddDeadLetterOutput"/>.
/// </summary>
public sealed class ConnectorRegistry
{
    private readonly Dictionary<Type, Func<SourceSpec, PipelineSpec, ISource>> _sources = [];
    private readonly Dictionary<Type, Func<SinkSpec, PipelineSpec, ISink>> _sinks = [];
    private readonly Dictionary<Type, Func<DeadLetterTargetSpec, PipelineSpec, IDeadLetterOutput>> _deadLetters = [];

    public ConnectorRegistry AddSource<T>(Func<T, SourceSpec, PipelineSpec, ISource> create) where T : SourceConnectorSpec
    {
        _sources[typeof(T)] = (s, p) => create((T)s.Connector, s, p);
        return this;
    }

    public ConnectorRegistry AddSink<T>(Func<T, SinkSpec, PipelineSpec, ISink> create) where T : SinkConnectorSpec
    {
        _sinks[typeof(T)] = (s, p) => create((T)s.Connector, s, p);
        return this;
    }

    public ConnectorRegistry AddDeadLetterOutput<T>(Func<T, PipelineSpec, IDeadLetterOutput> create) where T : DeadLetterTargetSpec
    {
        _deadLetters[typeof(T)] = (t, p) => create((T)t, p);
        return this;
    }

    /// <summary>
    /// The spec's dead-letter output: its registered target (a Kafka topic), else the JSON-lines file
    /// <see cref="PipelineSpec.DeadLetterFile"/>.
    /// </summary>
    public IDeadLetterOutput CreateDeadLetterOutput(PipelineSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        IDeadLetterOutput output;
        if (spec.DeadLetter?.Target is not { } target) output = new JsonLinesDeadLetterOutput(spec.DeadLetterFile, spec.Name);
        else if (_deadLetters.TryGetValue(target.GetType(), out var f)) output = f(target, spec);
        else throw new PlanException([new PlanError($"dead_letter.{target.Kind}", $"dead-letter output '{target.Kind}' is not available in this build")]);
        // Every dead letter's error text passes the spec's redaction (also with no secrets: Password= pairs, URL credentials).
        return new RedactingDeadLetterOutput(output, spec.Secrets);
    }

    public ISource CreateSource(SourceSpec spec, PipelineSpec pipeline) =>
        _sources.TryGetValue(spec.Connector.GetType(), out var f)
            ? Guard($"sources.{spec.Name}.{spec.Connector.Kind}", () => f(spec, pipeline))
            : throw new PlanException([new PlanError($"sources.{spec.Name}", $"source connector '{spec.Connector.Kind}' is not available in this build")]);

    public ISink CreateSink(SinkSpec spec, PipelineSpec pipeline) =>
        _sinks.TryGetValue(spec.Connector.GetType(), out var f)
            ? Guard($"sinks.{spec.Name}.{spec.Connector.Kind}", () => f(spec, pipeline))
            : throw new PlanException([new PlanError($"sinks.{spec.Name}", $"sink connector '{spec.Connector.Kind}' is not available in this build")]);

    /// <summary>Connector construction problems (a missing input directory, bad options) are plan errors, not crashes.</summary>
    private static T Guard<T>(string path, Func<T> create)
    {
        try
        {
            return create();
        }
        catch (Connectors.ConnectorConfigException e)
        {
            throw new PlanException(e.Problems.Select(p => new PlanError(path, p)).ToList());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            throw new PlanException([new PlanError(path, e.Message)]);
        }
    }
}
