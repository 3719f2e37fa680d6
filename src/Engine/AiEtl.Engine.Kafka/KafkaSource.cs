using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Json;
using AiEtl.Engine.Kafka.Avro;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Confluent.Kafka;

namespace AiEtl.Engine.Kafka;

/// <summary>
/// Reads JSON messages from Kafka topics into batches of a declared schema (plus optional metadata columns).
/// The partitions are the splits: reader i of P statically owns partition p of every topic when
/// <c>p % P == i</c> (manual assignment, as Flink's KafkaSource does; no group rebalances). Positions —
/// the next offset of each owned partition — are kept in checkpoints; the group's committed offsets are
/// written only when a checkpoint completes, for lag monitoring and as the start position of a fresh run.
/// </summary>
public sealed class KafkaSource : ISource
{
    private readonly Lazy<IReadOnlyList<int>> _partitions;

    /// <exception cref="ConnectorConfigException">Invalid options or column options.</exception>
    public KafkaSource(KafkaSourceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate().ToList();
        if (problems.Count == 0)
        {
            try
            {
                // Validates the column options now.
                if (options.Format == KafkaFormat.Avro) AvroReader = options.AvroReader ?? AvroReaderSchema.FromDeclared(options.Schema);
                else _ = new JsonRowDecoder(options.Schema, options.Columns);
            }
            catch (Exception e) when (e is ArgumentException or AvroSchemaException)
            {
                problems.Add(e.Message);
            }
        }
        if (problems.Count > 0) throw new ConnectorConfigException($"kafka source '{options.Name}'", problems);
        Options = options;
        Name = options.Name;
        var b = new Schema.Builder();
        foreach (var f in options.Schema.FieldsList) b.Field(f);
        foreach (var m in options.MetadataColumns)
        {
            var c = KafkaMetadataColumns.Find(m)!;
            b.Field(ColumnTypes.Field(c.Name, c.Type, nullable: true));
        }
        Schema = b.Build();
        MetadataSchema = new Schema(Schema.FieldsList.Skip(options.Schema.FieldsList.Count).ToList(), null);
        _partitions = new Lazy<IReadOnlyList<int>>(FetchPartitionCounts);
    }

    private readonly Lock _schemasLock = new();
    private IAvroSchemaProvider? _avroSchemas;
    private int _schemaUsers;

    /// <summary>With <c>format: avro</c>: the reader columns (and their defaults).</summary>
    internal AvroReaderSchema? AvroReader { get; }

    /// <summary>
    /// With <c>format: avro</c>: the writer schemas, one registry client shared by the readers of a run. Each reader
    /// takes it here and gives it back with <see cref="ReleaseAvroSchemas"/>; the last one back disposes the client
    /// (its HTTP connections), and a later run creates a new one.
    /// </summary>
    internal IAvroSchemaProvider AcquireAvroSchemas()
    {
        lock (_schemasLock)
        {
            _avroSchemas ??= Options.AvroSchemas ?? new SchemaRegistryProvider(Options.SchemaRegistry!);
            _schemaUsers++;
            return _avroSchemas;
        }
    }

    /// <summary>The registry client of the current run (null between runs) and how many readers hold it.</summary>
    internal (IAvroSchemaProvider? Provider, int Users) AvroSchemasInUse
    {
        get
        {
            lock (_schemasLock) return (_avroSchemas, _schemaUsers);
        }
    }

    internal void ReleaseAvroSchemas()
    {
        IDisposable? dispose = null;
        lock (_schemasLock)
        {
            if (_schemaUsers == 0 || --_schemaUsers > 0) return;
            // A provider handed in through the options belongs to whoever made it.
            if (Options.AvroSchemas is null) dispose = _avroSchemas as IDisposable;
            _avroSchemas = null;
        }
        dispose?.Dispose();
    }

    public string Name { get; }

    /// <summary>The declared columns followed by the metadata columns.</summary>
    public Schema Schema { get; }

    public KafkaSourceOptions Options { get; }

    internal Schema MetadataSchema { get; }

    /// <summary>Partition count of each topic (fetched from the brokers once, when first needed).</summary>
    /// <exception cref="KafkaSourceException">A topic does not exist or the brokers did not answer in time.</exception>
    public IReadOnlyList<int> PartitionCounts => _partitions.Value;

    /// <summary>The largest partition count of the topics: more readers would own nothing.</summary>
    public int MaxParallelism => PartitionCounts.Max();

    /// <summary>True with <c>stop: latest</c>: the readers end at the partitions' ends as of their start.</summary>
    public bool IsBounded => Options.Stop == KafkaStop.Latest;

    /// <summary>Readers derive the watermark per partition (<see cref="KafkaSourceReader"/> is an <see cref="ISplitEventTime"/>).</summary>
    public string? EventTimeSplit => "partition";

    public ISourceReader CreateReader(ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var n = context.Task.Parallelism;
        var i = context.Task.Index;
        if (n < 1 || i < 0 || i >= n) throw new ArgumentException($"invalid task {context.Task}", nameof(context));
        var owned = new List<TopicPartition>();
        for (var t = 0; t < Options.Topics.Count; t++)
            for (var p = i; p < PartitionCounts[t]; p += n) owned.Add(new TopicPartition(Options.Topics[t], p));
        return new KafkaSourceReader(this, owned, context);
    }

    private IReadOnlyList<int> FetchPartitionCounts()
    {
        var logger = Options.Logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        using var admin = new AdminClientBuilder(KafkaConfig.Admin(Options.Brokers, Options.Properties))
            .SetLogHandler((_, m) => KafkaConfig.Log(logger, m))
            .SetErrorHandler((_, e) => KafkaLog.ClientError(logger, $"source '{Name}' metadata", e.ToString()))
            .Build();
        var counts = new int[Options.Topics.Count];
        var deadline = DateTime.UtcNow + Options.RequestTimeout;
        for (var t = 0; t < counts.Length; t++)
        {
            var topic = Options.Topics[t];
            while (true)
            {
                string problem;
                try
                {
                    var md = admin.GetMetadata(topic, TimeSpan.FromSeconds(Math.Max(1, Math.Min(10, (deadline - DateTime.UtcNow).TotalSeconds))));
                    var tm = md.Topics.FirstOrDefault(x => x.Topic == topic);
                    if (tm is not null && tm.Error.Code == ErrorCode.NoError && tm.Partitions.Count > 0)
                    {
                        counts[t] = tm.Partitions.Count;
                        break;
                    }
                    if (tm?.Error.Code is ErrorCode.UnknownTopicOrPart or ErrorCode.TopicException)
                        throw new KafkaSourceException($"kafka source '{Name}': topic '{topic}' does not exist on {Options.Brokers}");
                    problem = tm is null ? "no metadata for the topic" : tm.Error.Reason;
                }
                catch (KafkaException e)
                {
                    problem = e.Error.Reason;
                }
                if (DateTime.UtcNow >= deadline)
                    throw new KafkaSourceException($"kafka source '{Name}': no metadata for topic '{topic}' from {Options.Brokers} within {Options.RequestTimeout.TotalSeconds:0}s: {problem}");
                Thread.Sleep(200);
            }
        }
        return counts;
    }
}

/// <summary>The Kafka source cannot go on: a missing topic, an unreachable cluster, lost offsets or a fatal client error.</summary>
public sealed class KafkaSourceException : Exception
{
    public KafkaSourceException(string message) : base(message)
    {
    }

    public KafkaSourceException(string message, Exception? inner) : base(message, inner)
    {
    }

    public KafkaSourceException()
    {
    }
}
