using AiEtl.Engine.Columns;
using AiEtl.Engine.Json;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Microsoft.Extensions.Logging;

namespace AiEtl.Engine.Kafka;

/// <summary>Registers the Kafka source, sink and dead-letter output with a <see cref="ConnectorRegistry"/>.</summary>
public static class KafkaConnectors
{
    /// <param name="registry">The registry to add to (returned for chaining).</param>
    /// <param name="logger">Receives the connectors' and librdkafka's log (none when null).</param>
    public static ConnectorRegistry Register(ConnectorRegistry registry, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        return registry
            .AddSource<KafkaSourceSpec>((k, s, p) => new KafkaSource(SourceOptions(k, s, p, logger)))
            .AddSink<KafkaSinkSpec>((k, s, p) =>
            {
                if (p.EffectiveDelivery == DeliveryGuarantee.ExactlyOnce)
                {
                    throw new PlanException([new PlanError($"sinks.{s.Name}",
                        "the kafka sink delivers at-least-once (idempotent producer); exactly-once would need resumable Kafka transactions, " +
                        "which the Kafka client cannot do. Use delivery: at-least-once, or an exactly-once sink")]);
                }
                return new KafkaSink(new KafkaSinkOptions
                {
                    Name = s.Name,
                    Brokers = k.Brokers,
                    Topic = k.Topic,
                    Key = k.Key,
                    Properties = KafkaConfig.Merge(k.Properties, k.Security),
                    Logger = logger,
                });
            })
            .AddDeadLetterOutput<KafkaDeadLetterSpec>((k, p) => new KafkaDeadLetterOutput(new KafkaDeadLetterOptions
            {
                Brokers = k.Brokers,
                Topic = k.Topic,
                Pipeline = p.Name,
                Properties = KafkaConfig.Merge(k.Properties, k.Security),
                Logger = logger,
            }));
    }

    /// <summary>The source options a spec describes (the schema's metadata columns are split off).</summary>
    public static KafkaSourceOptions SourceOptions(KafkaSourceSpec k, SourceSpec s, PipelineSpec p, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(p);
        var declared = s.Schema.Where(c => !k.MetadataColumns.Contains(c.Name)).ToList();
        var schema = new Schema.Builder();
        foreach (var c in declared) schema.Field(ColumnTypes.Field(c.Name, c.Type, nullable: !c.Required));
        return new KafkaSourceOptions
        {
            Name = s.Name,
            Brokers = k.Brokers,
            Topics = k.Topics,
            Group = k.Group ?? $"aietl-{p.Name}",
            Schema = schema.Build(),
            Columns = declared.ToDictionary(c => c.Name, c => new JsonColumnOptions(c.Required, c.Format switch
            {
                TimeFormat.EpochS => JsonTimeFormat.EpochSeconds,
                TimeFormat.EpochMs => JsonTimeFormat.EpochMillis,
                TimeFormat.EpochUs => JsonTimeFormat.EpochMicros,
                _ => JsonTimeFormat.Iso,
            }), StringComparer.Ordinal),
            MetadataColumns = k.MetadataColumns,
            Start = k.Start ?? KafkaStart.Committed,
            StartTimestamp = k.StartTimestamp,
            Stop = k.Stop ?? KafkaStop.Never,
            BatchSize = k.BatchSize ?? 8192,
            PollTimeout = k.PollTimeout ?? TimeSpan.FromMilliseconds(100),
            ResetOnOffsetOutOfRange = k.OnOffsetOutOfRange == KafkaOffsetOutOfRange.Reset,
            Properties = KafkaConfig.Merge(k.Properties, k.Security),
            Logger = logger,
        };
    }
}
