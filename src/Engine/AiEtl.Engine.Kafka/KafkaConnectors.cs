using AiEtl.Engine.Columns;
using AiEtl.Engine.Json;
using AiEtl.Engine.Kafka.Avro;
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
        AvroRegistryOptions? registry = null;
        AvroReaderSchema? avroReader = null;
        if (k.Format == KafkaFormat.Avro && k.SchemaRegistry is { } r)
        {
            registry = new AvroRegistryOptions
            {
                Url = r.Url,
                Subject = r.Subject,
                BasicAuthUser = r.BasicAuthUser,
                BasicAuthPassword = r.BasicAuthPassword,
                RequestTimeout = r.RequestTimeout ?? TimeSpan.FromSeconds(30),
            };
            if (declared.Count == 0)
            {
                avroReader = DeriveAvroColumns(k, s, registry);
                foreach (var f in avroReader.Arrow.FieldsList) schema.Field(f);
            }
        }
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
            Format = k.Format ?? KafkaFormat.Json,
            SchemaRegistry = registry,
            AvroReader = avroReader,
        };
    }

    /// <summary>
    /// <c>format: avro</c> without a declared schema: the columns are the fields of the subject's latest schema in the
    /// registry (default subject <c>&lt;topic&gt;-value</c>), read when the pipeline is planned.
    /// </summary>
    private static AvroReaderSchema DeriveAvroColumns(KafkaSourceSpec k, SourceSpec s, AvroRegistryOptions registry)
    {
        var path = $"sources.{s.Name}.{KafkaSourceSpec.KindName}.schema_registry";
        if (registry.Subject is null && k.Topics.Count != 1)
            throw new PlanException([new PlanError(path + ".subject", "a source of several topics needs schema_registry.subject (or a declared schema) to know its columns")]);
        var subject = registry.Subject ?? $"{k.Topics[0]}-value";
        try
        {
            using var provider = new SchemaRegistryProvider(registry);
            var reader = AvroReaderSchema.FromAvro(provider.GetLatestSchema(subject));
            var clash = reader.Arrow.FieldsList.Select(f => f.Name).Where(k.MetadataColumns.Contains).ToList();
            if (clash.Count > 0)
                throw new AvroSchemaException($"field(s) {string.Join(", ", clash)} of subject '{subject}' are also metadata columns (metadata_columns)");
            return reader;
        }
        catch (AvroSchemaException e)
        {
            throw new PlanException([new PlanError(path, $"subject '{subject}': {e.Message}")]);
        }
        catch (KafkaSourceException e)
        {
            throw new PlanException([new PlanError(path, e.Message)]);
        }
    }
}
