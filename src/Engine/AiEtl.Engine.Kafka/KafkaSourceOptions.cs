using AiEtl.Engine.Json;
using AiEtl.Engine.Kafka.Avro;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Microsoft.Extensions.Logging;

namespace AiEtl.Engine.Kafka;

/// <summary>Options of <see cref="KafkaSource"/>; validated when the source is built.</summary>
public sealed record KafkaSourceOptions
{
    /// <summary>Source name (dead letters and metrics name it).</summary>
    public required string Name { get; init; }

    /// <summary>Bootstrap servers, <c>host:port[,host:port…]</c>.</summary>
    public required string Brokers { get; init; }

    /// <summary>Topics to read; their partitions are the splits.</summary>
    public required IReadOnlyList<string> Topics { get; init; }

    /// <summary>Consumer group whose committed offsets are written at completed checkpoints (and read by <c>start: committed</c>).</summary>
    public required string Group { get; init; }

    /// <summary>The columns decoded from each JSON value (a non-nullable field is required).</summary>
    public required Schema Schema { get; init; }

    /// <summary>Per-column decoding options (required, time format) by column name.</summary>
    public IReadOnlyDictionary<string, JsonColumnOptions>? Columns { get; init; }

    /// <summary>Metadata columns appended after <see cref="Schema"/>, in order (<see cref="KafkaMetadataColumns"/>).</summary>
    public IReadOnlyList<string> MetadataColumns { get; init; } = [];

    /// <summary>Where to start without a restored checkpoint (default: committed offsets, else earliest).</summary>
    public KafkaStart Start { get; init; } = KafkaStart.Committed;

    /// <summary>With <see cref="KafkaStart.Timestamp"/>: start at the first message whose timestamp is at or after this time.</summary>
    public DateTimeOffset? StartTimestamp { get; init; }

    /// <summary>
    /// <see cref="KafkaStop.Latest"/>: a bounded read. Each reader takes its partitions' high watermarks when it
    /// starts and ends once it has read every partition up to there (later messages are left unread: the
    /// position and the committed offsets stop at the snapshot). Default <see cref="KafkaStop.Never"/>: unbounded.
    /// </summary>
    public KafkaStop Stop { get; init; } = KafkaStop.Never;

    /// <summary>Most rows per batch (default 8192).</summary>
    public int BatchSize { get; init; } = 8192;

    /// <summary>Longest a read waits for its batch to fill before returning what arrived (default 100 ms).</summary>
    public TimeSpan PollTimeout { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// When the next offset of a partition is no longer on the broker (deleted by retention) or beyond its
    /// end: false (the default) fails the pipeline naming the partition and the lost range; true logs the
    /// range and continues from the earliest available offset.
    /// </summary>
    public bool ResetOnOffsetOutOfRange { get; init; }

    /// <summary>
    /// Prefetch bound of each reader's consumer (librdkafka <c>queued.max.messages.kbytes</c>, default 16 MiB):
    /// while the engine does not ask for batches (backpressure) librdkafka stops fetching at this size.
    /// </summary>
    public int MaxPrefetchKBytes { get; init; } = 16 * 1024;

    /// <summary>
    /// Consume through Confluent.Kafka's per-message <c>Consume</c> instead of librdkafka's batch call (see
    /// <see cref="NativeBatchConsumer"/>); also set by <c>AIETL_KAFKA_CONSUME=per-message</c>. For comparison and tests.
    /// </summary>
    internal bool PerMessageConsume { get; init; }

    /// <summary>How long metadata, offset and watermark queries may take before the source fails (default 30 s).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>librdkafka consumer properties applied last (security settings, fetch sizes, …).</summary>
    public IReadOnlyDictionary<string, string> Properties { get; init; } = new Dictionary<string, string>();

    /// <summary>How values are decoded (default JSON).</summary>
    public KafkaFormat Format { get; init; } = KafkaFormat.Json;

    /// <summary>With <see cref="KafkaFormat.Avro"/>: the schema registry (unless <see cref="AvroSchemas"/> is given).</summary>
    public AvroRegistryOptions? SchemaRegistry { get; init; }

    /// <summary>With <see cref="KafkaFormat.Avro"/>: the reader columns with their defaults (default: <see cref="Schema"/>, missing fields NULL).</summary>
    public AvroReaderSchema? AvroReader { get; init; }

    /// <summary>With <see cref="KafkaFormat.Avro"/>: writer schemas from somewhere other than a registry (embedding, tests).</summary>
    public IAvroSchemaProvider? AvroSchemas { get; init; }

    /// <summary>Receives librdkafka's log, transient errors, commits and resets.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Returns every problem with these options (empty when fine).</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Brokers)) problems.Add("brokers: must not be empty");
        if (Topics is null || Topics.Count == 0) problems.Add("topics: name at least one topic");
        else if (Topics.Distinct(StringComparer.Ordinal).Count() != Topics.Count) problems.Add("topics: a topic is listed twice");
        if (string.IsNullOrWhiteSpace(Group)) problems.Add("group: must not be empty");
        if (BatchSize < 1) problems.Add($"batch_size: must be at least 1 (was {BatchSize})");
        if (PollTimeout <= TimeSpan.Zero) problems.Add($"poll_timeout: must be positive (was {PollTimeout})");
        if (MaxPrefetchKBytes < 1) problems.Add($"max prefetch: must be at least 1 KiB (was {MaxPrefetchKBytes})");
        if (RequestTimeout <= TimeSpan.Zero) problems.Add("request timeout: must be positive");
        var names = new HashSet<string>(Schema?.FieldsList.Select(f => f.Name) ?? [], StringComparer.Ordinal);
        foreach (var m in MetadataColumns ?? [])
        {
            if (KafkaMetadataColumns.Find(m) is null)
                problems.Add($"metadata_columns: unknown column '{m}' (known: {string.Join(", ", KafkaMetadataColumns.All.Select(c => c.Name))})");
            else if (!names.Add(m))
                problems.Add($"metadata_columns: '{m}' is listed twice or is also a declared column");
        }
        foreach (var key in Properties?.Keys ?? [])
        {
            if (KafkaConfig.SourceReserved.Contains(key)) problems.Add($"properties: '{key}' is set by the connector");
        }
        if (Stop == KafkaStop.Latest && Properties?.TryGetValue("enable.partition.eof", out var eof) == true && !string.Equals(eof, "true", StringComparison.OrdinalIgnoreCase))
            problems.Add("properties: stop: latest needs enable.partition.eof (end-of-partition events tell a bounded read it is done)");
        if (Start == KafkaStart.Timestamp && StartTimestamp is null) problems.Add("start: timestamp needs start_timestamp");
        if (Format == KafkaFormat.Avro)
        {
            if (SchemaRegistry is null && AvroSchemas is null) problems.Add("format avro: needs schema_registry (where the writer schemas are)");
            foreach (var (name, opt) in Columns ?? new Dictionary<string, JsonColumnOptions>())
                if (opt.TimeFormat != JsonTimeFormat.Iso) problems.Add($"column '{name}': a time format applies to JSON; Avro timestamps carry their unit (timestamp-millis/-micros)");
        }
        else if (SchemaRegistry is not null || AvroReader is not null || AvroSchemas is not null)
        {
            problems.Add("schema_registry: applies only with format avro");
        }
        KafkaConfig.CheckFiles(Properties, problems);
        return problems;
    }
}
