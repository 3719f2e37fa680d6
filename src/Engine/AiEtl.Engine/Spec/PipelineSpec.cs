using AiEtl.Engine.Columns;

namespace AiEtl.Engine.Spec;

// The pipeline spec model: immutable records produced by PipelineSpecLoader, which validates them.
// A null property means "not set in the file" (the runtime applies the default).

/// <summary>A validated pipeline spec (one YAML document).</summary>
/// <param name="Name">Pipeline name, <c>[A-Za-z0-9][A-Za-z0-9_.-]*</c>.</param>
/// <param name="Description">Free text.</param>
/// <param name="Sources">
/// The sources in declaration order. A <c>source:</c> shorthand gives one source named <c>source</c>;
/// each source is a table of that name in the SQL transform.
/// </param>
/// <param name="Transform">SQL text or an operator chain; null when rows pass through unchanged.</param>
/// <param name="Sinks">The sinks in declaration order (a <c>sink:</c> shorthand is named <c>sink</c>).</param>
/// <param name="DeadLetter">Where failed records go; see <see cref="DeadLetterFile"/> for the default.</param>
/// <param name="Delivery">Delivery guarantee; see <see cref="EffectiveDelivery"/> for the default.</param>
/// <param name="Checkpoint">Checkpoint settings.</param>
/// <param name="Parallelism">Parallelism per operator; see <see cref="EffectiveParallelism"/> for the default.</param>
public sealed record PipelineSpec(
    string Name,
    string? Description,
    IReadOnlyList<SourceSpec> Sources,
    TransformSpec? Transform,
    IReadOnlyList<SinkSpec> Sinks,
    DeadLetterSpec? DeadLetter,
    DeliveryGuarantee? Delivery,
    CheckpointSpec? Checkpoint,
    int? Parallelism)
{
    /// <summary>The name a <c>source:</c> shorthand gets (also its table name in SQL).</summary>
    public const string SingleSourceName = "source";

    /// <summary>The name a <c>sink:</c> shorthand gets.</summary>
    public const string SingleSinkName = "sink";

    /// <summary><see cref="Delivery"/> or its default, at-least-once.</summary>
    public DeliveryGuarantee EffectiveDelivery => Delivery ?? DeliveryGuarantee.AtLeastOnce;

    /// <summary><see cref="Parallelism"/> or its default, the number of cores.</summary>
    public int EffectiveParallelism => Parallelism ?? Environment.ProcessorCount;

    /// <summary>
    /// The dead-letter file: the declared one, or <c>dead-letters/&lt;name&gt;.jsonl</c> (also when none is
    /// declared); not used when <see cref="DeadLetterSpec.Target"/> names another output (a Kafka topic).
    /// </summary>
    public string DeadLetterFile => DeadLetter?.File ?? $"dead-letters/{Name}.jsonl";

    /// <summary>The source with this name, or null.</summary>
    public SourceSpec? FindSource(string name) => Sources.FirstOrDefault(s => s.Name == name);

    /// <summary>
    /// The spec's secrets (interpolated values and secret fields); <see cref="SecretRedactor.Redact"/> scrubs them from
    /// any text that is printed, logged, raised or written as a dead letter.
    /// </summary>
    public SecretRedactor Secrets { get; init; } = SecretRedactor.None;
}

/// <summary>One source: a connector, the schema of the rows it produces, and optional event time.</summary>
/// <param name="Name">The source's name (its table name in SQL).</param>
/// <param name="Connector">The connector and its options.</param>
/// <param name="Schema">
/// The columns in order: the declared schema, or the connector's fixed one (generator).
/// </param>
/// <param name="EventTime">The event-time column and watermark settings, if declared.</param>
public sealed record SourceSpec(string Name, SourceConnectorSpec Connector, IReadOnlyList<ColumnSpec> Schema, EventTimeSpec? EventTime)
{
    /// <summary>The column with this name, or null.</summary>
    public ColumnSpec? FindColumn(string name) => Schema.FirstOrDefault(c => c.Name == name);
}

/// <summary>A column of a source schema.</summary>
/// <param name="Name">The column name (an input key for JSON, a header for CSV).</param>
/// <param name="Type">The column type.</param>
/// <param name="Required">True when a row without a value (missing or null) is a dead letter.</param>
/// <param name="Format">How a timestamp is encoded in the input (ISO 8601 when unset).</param>
public sealed record ColumnSpec(string Name, ColumnKind Type, bool Required = false, TimeFormat? Format = null);

/// <summary>How a timestamp column is written in the input.</summary>
public enum TimeFormat
{
    /// <summary>ISO 8601 text with a zone: <c>YYYY-MM-DDTHH:MM:SS[.f…](Z|±HH:MM)</c>.</summary>
    Iso,
    /// <summary>Seconds since the Unix epoch (an integer).</summary>
    EpochS,
    /// <summary>Milliseconds since the Unix epoch.</summary>
    EpochMs,
    /// <summary>Microseconds since the Unix epoch.</summary>
    EpochUs,
}

/// <summary>Event time of a source: watermark = max event time − <see cref="MaxOutOfOrderness"/>.</summary>
/// <param name="Column">A timestamp column of the source schema.</param>
/// <param name="MaxOutOfOrderness">Bounded out-of-orderness (default 0).</param>
/// <param name="IdleTimeout">After this long without rows a partition stops holding back the watermark.</param>
/// <param name="AllowedLateness">How long a window stays open after the watermark passes its end (default 0).</param>
public sealed record EventTimeSpec(string Column, TimeSpan? MaxOutOfOrderness, TimeSpan? IdleTimeout, TimeSpan? AllowedLateness);

/// <summary>A source connector's options; one subtype per registered kind.</summary>
public abstract record SourceConnectorSpec
{
    /// <summary>The connector kind as written in YAML (<c>generator</c>, <c>file</c>, …).</summary>
    public abstract string Kind { get; }

    /// <summary>A short description for messages, e.g. <c>file(jsonl)</c>.</summary>
    public abstract string Describe();

    /// <summary>Values of fields that are secret by nature (passwords, keys), registered with <see cref="PipelineSpec.Secrets"/>.</summary>
    public virtual IEnumerable<string> SecretValues() => [];
}

/// <summary>The built-in data generators; each has a fixed schema (<see cref="GeneratorSchemas"/>).</summary>
public enum GeneratorKind { Orders, Clickstream }

/// <summary>Synthetic rows for demos and benchmarks.</summary>
/// <param name="Generator">Which generator (fixes the schema).</param>
/// <param name="Rows">Rows to produce; unset = unbounded.</param>
/// <param name="Rate">Rows per second; unset or 0 = as fast as possible.</param>
/// <param name="Seed">Random seed (the output is deterministic for a seed).</param>
/// <param name="BatchSize">Rows per batch.</param>
/// <param name="StartTime">Event time of the first row.</param>
public sealed record GeneratorSourceSpec(GeneratorKind Generator, long? Rows, long? Rate, long? Seed, int? BatchSize, DateTimeOffset? StartTime) : SourceConnectorSpec
{
    public const string KindName = "generator";
    public override string Kind => KindName;
    public override string Describe() => $"{KindName}({SpecNames.Of(Generator)})";
}

/// <summary>The Nexmark streams (see <see cref="Connectors.Nexmark.NexmarkSource"/>).</summary>
public enum NexmarkStreamName { Person, Auction, Bid }

/// <summary>The Nexmark benchmark's event generator, one stream per source.</summary>
/// <param name="Stream">Which stream the source exposes (fixes the schema).</param>
/// <param name="Events">Events over all three streams; unset = unbounded.</param>
/// <param name="EventRate">Events per second of event time (default 10 000).</param>
/// <param name="Seed">Xor-ed into every event's seed; 0 (default) = the reference's values.</param>
/// <param name="ChunkEvents">Event numbers per batch.</param>
/// <param name="BaseTime">Event time of event 0.</param>
public sealed record NexmarkSourceSpec(NexmarkStreamName Stream, long? Events, long? EventRate, long? Seed, int? ChunkEvents, DateTimeOffset? BaseTime) : SourceConnectorSpec
{
    public const string KindName = "nexmark";
    public override string Kind => KindName;
    public override string Describe() => $"{KindName}({SpecNames.Of(Stream)})";
}

/// <summary>File formats of file sources and sinks.</summary>
public enum FileFormat { Jsonl, Csv, Parquet }

/// <summary>Reads files matching a path or glob.</summary>
/// <param name="Path">A file path or glob (<c>data/*.jsonl</c>).</param>
/// <param name="Format">The declared format, or the one the path's extension implies.</param>
/// <param name="BatchSize">Rows per batch.</param>
/// <param name="Csv">CSV options (only with <see cref="FileFormat.Csv"/>).</param>
public sealed record FileSourceSpec(string Path, FileFormat Format, int? BatchSize, CsvOptionsSpec? Csv) : SourceConnectorSpec
{
    public const string KindName = "file";
    public override string Kind => KindName;
    public override string Describe() => $"{KindName}({SpecNames.Of(Format)})";
}

/// <summary>What the PostgreSQL CDC source does when a table's columns change mid-stream.</summary>
public enum SchemaChangeMode
{
    /// <summary>Stop the pipeline with a message naming the table and the changed columns (the default).</summary>
    Fail,
    /// <summary>Later batches carry the new schema (columns only grow; a changed type widens or becomes text).</summary>
    Evolve,
}

/// <summary>Whether the PostgreSQL CDC source copies the tables before streaming.</summary>
public enum SnapshotMode
{
    /// <summary>Copy every table from the slot's exported snapshot, then stream from its consistent point.</summary>
    Initial,
    /// <summary>No copy: stream changes from the slot's position only.</summary>
    Never,
}

/// <summary>
/// PostgreSQL change data capture through logical replication (pgoutput): an initial snapshot, then the change
/// stream of every table that matches <see cref="Include"/> and not <see cref="Exclude"/>.
/// </summary>
/// <param name="Connection">An Npgsql connection string for the source database.</param>
/// <param name="Include">Table patterns (<c>schema.table</c>, <c>*</c> and <c>?</c> wildcards; a pattern without a dot matches any schema); empty = every user table.</param>
/// <param name="Exclude">Table patterns to leave out.</param>
/// <param name="Slot">Replication slot name (default <c>aietl_&lt;pipeline&gt;</c>).</param>
/// <param name="Publication">Publication name (default: the slot name).</param>
/// <param name="Snapshot">Initial snapshot or none (default initial).</param>
/// <param name="SnapshotParallelism">Snapshot sessions copying chunks at once (default 2).</param>
/// <param name="SnapshotChunkRows">Target rows per primary-key range chunk (default 250000).</param>
/// <param name="OnSchemaChange">Fail (default) or evolve.</param>
/// <param name="HeartbeatInterval">Interval of the heartbeat message that keeps the slot advancing (default 10s; 0 disables).</param>
/// <param name="BatchSize">Rows per batch, rounded up to whole transactions (default 8192).</param>
public sealed record PostgresCdcSourceSpec(
    string Connection,
    IReadOnlyList<string> Include,
    IReadOnlyList<string> Exclude,
    string? Slot,
    string? Publication,
    SnapshotMode? Snapshot,
    int? SnapshotParallelism,
    long? SnapshotChunkRows,
    SchemaChangeMode? OnSchemaChange,
    TimeSpan? HeartbeatInterval,
    int? BatchSize) : SourceConnectorSpec
{
    public const string KindName = "postgres_cdc";
    public override string Kind => KindName;
    public override string Describe() => Include.Count == 0 ? KindName : $"{KindName}({string.Join(", ", Include)})";

    /// <summary>
    /// On a restart whose replication slot is missing or invalidated (<c>wal_status = lost</c>): fail (the default) or,
    /// when true, drop it and start over with a new slot and a new snapshot (the sink replaces its tables).
    /// </summary>
    public bool ResnapshotOnSlotLoss { get; init; }

    public override IEnumerable<string> SecretValues() => SecretRedactor.ConnectionStringSecrets(Connection);
}

/// <summary>CSV reading options.</summary>
/// <param name="Header">True when the first line names the columns (default true).</param>
/// <param name="Delimiter">Field separator (default <c>,</c>).</param>
public sealed record CsvOptionsSpec(bool? Header, char? Delimiter);

/// <summary>The transform: SQL text or an operator chain.</summary>
public abstract record TransformSpec
{
    /// <summary>Number of steps (1 for SQL).</summary>
    public abstract int StepCount { get; }
}

/// <summary>A streaming SQL query, kept as text (compiled by the SQL front end).</summary>
public sealed record SqlTransformSpec(string Sql) : TransformSpec
{
    public override int StepCount => 1;
}

/// <summary>A chain of operators applied in order.</summary>
public sealed record OperatorChainSpec(IReadOnlyList<TransformStep> Steps) : TransformSpec
{
    public override int StepCount => Steps.Count;
}

/// <summary>One operator of a chain.</summary>
public abstract record TransformStep
{
    /// <summary>The operator name as written in YAML.</summary>
    public abstract string Operator { get; }
}

/// <summary>Keeps rows for which the SQL boolean expression is true.</summary>
public sealed record FilterStep(string Predicate) : TransformStep
{
    public override string Operator => "filter";
}

/// <summary>Projects SQL expressions (<c>amount * qty AS total</c>), in order.</summary>
public sealed record SelectStep(IReadOnlyList<string> Expressions) : TransformStep
{
    public override string Operator => "select";
}

/// <summary>Renames columns; the others keep their names and order.</summary>
public sealed record RenameStep(IReadOnlyList<ColumnRename> Renames) : TransformStep
{
    public override string Operator => "rename";
}

public sealed record ColumnRename(string From, string To);

/// <summary>Converts columns to other types (a failed conversion sends the row to the dead letters).</summary>
public sealed record CastStep(IReadOnlyList<ColumnCast> Casts) : TransformStep
{
    public override string Operator => "cast";
}

public sealed record ColumnCast(string Column, ColumnKind Type);

/// <summary><c>running_count: { key: k, as: seq }</c>: per-key running count (keyed state, hash-partitioned by the key).</summary>
public sealed record RunningCountStep(string Key, string As) : TransformStep
{
    public override string Operator => "running_count";
}

/// <summary>One sink.</summary>
public sealed record SinkSpec(string Name, SinkConnectorSpec Connector);

/// <summary>A sink connector's options; one subtype per registered kind.</summary>
public abstract record SinkConnectorSpec
{
    public abstract string Kind { get; }
    public abstract string Describe();

    /// <summary>Values of fields that are secret by nature (passwords, keys), registered with <see cref="PipelineSpec.Secrets"/>.</summary>
    public virtual IEnumerable<string> SecretValues() => [];
}

/// <summary>Writes one file (JSON lines, CSV or Parquet).</summary>
public sealed record FileSinkSpec(string Path, FileFormat Format) : SinkConnectorSpec
{
    public const string KindName = "file";
    public override string Kind => KindName;
    public override string Describe() => $"{KindName}({SpecNames.Of(Format)})";
}

/// <summary>
/// Applies a change stream (the <c>postgres_cdc</c> source's batches) to PostgreSQL tables: upserts and deletes by
/// key, exactly once through a progress row updated in the same transaction.
/// </summary>
/// <param name="Connection">An Npgsql connection string for the target database.</param>
/// <param name="Schema">Target schema (default <c>public</c>).</param>
/// <param name="TablePrefix">Prefix of each target table's name (default none: the source table's name).</param>
/// <param name="CreateTables">Create missing target tables with the source's column types and key (default true).</param>
/// <param name="TruncateOnSnapshot">Empty a target table when a new initial snapshot starts (default true).</param>
public sealed record PostgresSinkSpec(string Connection, string? Schema, string? TablePrefix, bool? CreateTables, bool? TruncateOnSnapshot) : SinkConnectorSpec
{
    public const string KindName = "postgres";
    public override string Kind => KindName;
    public override string Describe() => KindName;

    public override IEnumerable<string> SecretValues() => SecretRedactor.ConnectionStringSecrets(Connection);
}

public enum ConsoleFormat { Table, Jsonl }

/// <summary>Prints rows to standard output.</summary>
/// <param name="MaxRows">Stop printing after this many rows (the pipeline keeps running).</param>
/// <param name="Format">Output format.</param>
public sealed record ConsoleSinkSpec(int? MaxRows, ConsoleFormat? Format) : SinkConnectorSpec
{
    public const string KindName = "console";
    public override string Kind => KindName;
    public override string Describe() => Format is { } f ? $"{KindName}({SpecNames.Of(f)})" : KindName;
}

/// <summary>Discards rows (benchmarks, dry runs).</summary>
public sealed record NullSinkSpec : SinkConnectorSpec
{
    public const string KindName = "null";
    public override string Kind => KindName;
    public override string Describe() => KindName;
}

/// <summary>Where records that fail go: a JSON-lines file, or another registered output.</summary>
/// <param name="File">A JSON-lines file (null when <paramref name="Target"/> is set).</param>
/// <param name="Target">Another output (a Kafka topic); created through the connector registry.</param>
public sealed record DeadLetterSpec(string? File, DeadLetterTargetSpec? Target = null);

/// <summary>A dead-letter output other than a file; one subtype per registered kind.</summary>
public abstract record DeadLetterTargetSpec
{
    /// <summary>The output kind as written in YAML (<c>kafka</c>).</summary>
    public abstract string Kind { get; }

    public abstract string Describe();

    /// <summary>Values of fields that are secret by nature (passwords, keys), registered with <see cref="PipelineSpec.Secrets"/>.</summary>
    public virtual IEnumerable<string> SecretValues() => [];
}

/// <summary>Where a Kafka source starts when no checkpoint is restored.</summary>
public enum KafkaStart
{
    /// <summary>The group's committed offsets, else the earliest available (the default).</summary>
    Committed,
    /// <summary>The earliest available offset of each partition.</summary>
    Earliest,
    /// <summary>The end of each partition: only messages produced after the start.</summary>
    Latest,
    /// <summary>The first offset whose message timestamp is at or after <see cref="KafkaSourceSpec.StartTimestamp"/> (the end when none is).</summary>
    Timestamp,
}

/// <summary>Whether a Kafka source ends by itself.</summary>
public enum KafkaStop
{
    /// <summary>Never: the source is unbounded and waits for new messages (the default).</summary>
    Never,
    /// <summary>
    /// At the end each partition had when the source started (its high watermark then): the source is bounded,
    /// ends once every partition has been read up to there, and messages produced later are left for the next run.
    /// </summary>
    Latest,
}

/// <summary>The Kafka security protocols (librdkafka <c>security.protocol</c>).</summary>
public enum KafkaSecurityProtocol { Plaintext, Ssl, SaslPlaintext, SaslSsl }

/// <summary>SASL mechanisms the Kafka connectors accept (librdkafka <c>sasl.mechanisms</c>).</summary>
public enum KafkaSaslMechanism { Plain, ScramSha256, ScramSha512 }

/// <summary>
/// <c>security:</c> of a Kafka source, sink or dead-letter output: SASL credentials and TLS files, handed to librdkafka
/// as <c>security.protocol</c>, <c>sasl.*</c> and <c>ssl.*</c>.
/// </summary>
/// <param name="Protocol">Security protocol (default: from the blocks present — sasl + tls = sasl_ssl, …).</param>
/// <param name="Mechanism">SASL mechanism.</param>
/// <param name="Username">SASL user name.</param>
/// <param name="Password">SASL password (a secret: never printed).</param>
/// <param name="CaFile">PEM file of the CA(s) that sign the brokers' certificates (default: the system's).</param>
/// <param name="CertFile">PEM client certificate (mutual TLS).</param>
/// <param name="KeyFile">PEM private key of the client certificate.</param>
/// <param name="KeyPassword">Password of an encrypted <paramref name="KeyFile"/> (a secret).</param>
/// <param name="VerifyHostname">Check that the broker's certificate names the host (default true).</param>
public sealed record KafkaSecuritySpec(
    KafkaSecurityProtocol Protocol,
    KafkaSaslMechanism? Mechanism,
    string? Username,
    string? Password,
    string? CaFile,
    string? CertFile,
    string? KeyFile,
    string? KeyPassword,
    bool? VerifyHostname)
{
    /// <summary>The librdkafka properties these settings stand for.</summary>
    public IReadOnlyDictionary<string, string> ToLibrdkafka()
    {
        var p = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["security.protocol"] = Protocol switch
            {
                KafkaSecurityProtocol.Ssl => "ssl",
                KafkaSecurityProtocol.SaslPlaintext => "sasl_plaintext",
                KafkaSecurityProtocol.SaslSsl => "sasl_ssl",
                _ => "plaintext",
            },
        };
        if (Mechanism is { } m)
        {
            p["sasl.mechanisms"] = m switch
            {
                KafkaSaslMechanism.ScramSha256 => "SCRAM-SHA-256",
                KafkaSaslMechanism.ScramSha512 => "SCRAM-SHA-512",
                _ => "PLAIN",
            };
        }
        if (Username is not null) p["sasl.username"] = Username;
        if (Password is not null) p["sasl.password"] = Password;
        if (CaFile is not null) p["ssl.ca.location"] = CaFile;
        if (CertFile is not null) p["ssl.certificate.location"] = CertFile;
        if (KeyFile is not null) p["ssl.key.location"] = KeyFile;
        if (KeyPassword is not null) p["ssl.key.password"] = KeyPassword;
        if (VerifyHostname is { } v) p["ssl.endpoint.identification.algorithm"] = v ? "https" : "none";
        return p;
    }

    /// <summary>The secret values (password, key password).</summary>
    public IEnumerable<string> SecretValues() => new[] { Password, KeyPassword }.OfType<string>();
}

/// <summary>What a Kafka source does when its next offset is no longer (or not yet) on the broker.</summary>
public enum KafkaOffsetOutOfRange
{
    /// <summary>Fail the pipeline, naming the partition and the lost range (the default).</summary>
    Fail,
    /// <summary>Log the lost range and continue from the earliest available offset.</summary>
    Reset,
}

/// <summary>How Kafka message values are decoded.</summary>
public enum KafkaFormat
{
    /// <summary>One JSON object per message.</summary>
    Json,
    /// <summary>Avro binary in Confluent's wire format (magic byte, schema id, body); writer schemas from a schema registry.</summary>
    Avro,
}

/// <summary><c>schema_registry:</c> of a Kafka source with <c>format: avro</c> (the Confluent Schema Registry REST API).</summary>
/// <param name="Url">Base URL, <c>http(s)://host:port</c>.</param>
/// <param name="Subject">Subject whose latest schema gives the columns when no schema is declared (default <c>&lt;topic&gt;-value</c>).</param>
/// <param name="BasicAuthUser">HTTP basic-auth user name.</param>
/// <param name="BasicAuthPassword">HTTP basic-auth password (a secret: never printed).</param>
/// <param name="RequestTimeout">Longest a registry request may take (default 30 s).</param>
public sealed record KafkaSchemaRegistrySpec(string Url, string? Subject, string? BasicAuthUser, string? BasicAuthPassword, TimeSpan? RequestTimeout);

/// <summary>Kafka metadata that a source can append as columns, after the declared ones.</summary>
public static class KafkaMetadataColumns
{
    /// <summary>The column names and types, in the order they are listed here.</summary>
    public static IReadOnlyList<ColumnSpec> All { get; } =
    [
        new("_key", ColumnKind.String),
        new("_topic", ColumnKind.String),
        new("_partition", ColumnKind.Int32),
        new("_offset", ColumnKind.Int64),
        new("_timestamp", ColumnKind.Timestamp),
        new("_headers", ColumnKind.String),
    ];

    public static ColumnSpec? Find(string name) => All.FirstOrDefault(c => c.Name == name);
}

/// <summary>Reads JSON (or Avro) messages from Kafka topics; partitions are the splits.</summary>
/// <param name="Brokers">Bootstrap servers, <c>host:port[,host:port…]</c>.</param>
/// <param name="Topics">One or more topics (<c>topic:</c> or <c>topics:</c>).</param>
/// <param name="Group">Consumer group used to commit offsets (default <c>aietl-&lt;pipeline&gt;</c>).</param>
/// <param name="Format">Value format (json, or avro with <see cref="SchemaRegistry"/>).</param>
/// <param name="Start">Where to start without a checkpoint (default committed, else earliest).</param>
/// <param name="BatchSize">Most rows per batch.</param>
/// <param name="PollTimeout">Longest wait for a batch to fill before returning what arrived (default 100ms).</param>
/// <param name="MetadataColumns">Metadata columns to append (<see cref="KafkaMetadataColumns"/>), in order.</param>
/// <param name="OnOffsetOutOfRange">What to do when offsets were deleted by retention (default fail).</param>
/// <param name="Properties">librdkafka properties passed through as given.</param>
public sealed record KafkaSourceSpec(
    string Brokers,
    IReadOnlyList<string> Topics,
    string? Group,
    KafkaFormat? Format,
    KafkaStart? Start,
    int? BatchSize,
    TimeSpan? PollTimeout,
    IReadOnlyList<string> MetadataColumns,
    KafkaOffsetOutOfRange? OnOffsetOutOfRange,
    IReadOnlyDictionary<string, string> Properties) : SourceConnectorSpec
{
    public const string KindName = "kafka";
    public override string Kind => KindName;
    public override string Describe() => $"{KindName}({string.Join(",", Topics)})";

    /// <summary>With <see cref="KafkaStart.Timestamp"/>: the message time to start from.</summary>
    public DateTimeOffset? StartTimestamp { get; init; }

    /// <summary>Where the source ends (<c>stop:</c>; null: never, an unbounded source).</summary>
    public KafkaStop? Stop { get; init; }

    /// <summary>SASL and TLS settings (<c>security:</c>), or null for a plaintext connection (or raw <c>properties</c>).</summary>
    public KafkaSecuritySpec? Security { get; init; }

    /// <summary>With <see cref="KafkaFormat.Avro"/>: the schema registry holding the writer schemas.</summary>
    public KafkaSchemaRegistrySpec? SchemaRegistry { get; init; }

    public override IEnumerable<string> SecretValues() =>
        KafkaSecretValues(Properties, Security).Concat(SchemaRegistry?.BasicAuthPassword is { } pw ? [pw] : []);

    internal static IEnumerable<string> KafkaSecretValues(IReadOnlyDictionary<string, string> properties, KafkaSecuritySpec? security) =>
        properties.Where(p => SecretRedactor.IsSecretKey(p.Key)).Select(p => p.Value).Concat(security?.SecretValues() ?? []);
}

/// <summary>Writes each row as a JSON object to a Kafka topic (idempotent producer, at-least-once).</summary>
/// <param name="Brokers">Bootstrap servers.</param>
/// <param name="Topic">Target topic.</param>
/// <param name="Key">Column whose value becomes the message key (none: null keys).</param>
/// <param name="Properties">librdkafka producer properties passed through as given.</param>
public sealed record KafkaSinkSpec(string Brokers, string Topic, string? Key, IReadOnlyDictionary<string, string> Properties) : SinkConnectorSpec
{
    public const string KindName = "kafka";
    public override string Kind => KindName;
    public override string Describe() => $"{KindName}({Topic})";

    /// <summary>SASL and TLS settings (<c>security:</c>).</summary>
    public KafkaSecuritySpec? Security { get; init; }

    public override IEnumerable<string> SecretValues() => KafkaSourceSpec.KafkaSecretValues(Properties, Security);
}

/// <summary>Dead letters as Kafka messages: the raw bytes as the value, the rest as headers.</summary>
public sealed record KafkaDeadLetterSpec(string Brokers, string Topic, IReadOnlyDictionary<string, string> Properties) : DeadLetterTargetSpec
{
    public const string KindName = "kafka";
    public override string Kind => KindName;
    public override string Describe() => $"{KindName}({Topic})";

    /// <summary>SASL and TLS settings (<c>security:</c>).</summary>
    public KafkaSecuritySpec? Security { get; init; }

    public override IEnumerable<string> SecretValues() => KafkaSourceSpec.KafkaSecretValues(Properties, Security);
}

/// <summary>ClickHouse table engines a <c>create_table</c> sink can create.</summary>
public enum ClickHouseEngineSpec { MergeTree, ReplacingMergeTree }

/// <summary>Request body compression of the ClickHouse sink.</summary>
public enum ClickHouseCompressionSpec { None, Gzip, Lz4 }

/// <summary>How a created ClickHouse table stores timestamps: microseconds (DateTime64(6) or Int64 µs on old servers) or seconds (DateTime).</summary>
public enum ClickHouseTimestampSpec { Microseconds, Seconds }

/// <summary>Loads rows into a ClickHouse table over HTTP (the connector lives in AiEtl.Engine.ClickHouse).</summary>
/// <param name="Url">HTTP(S) endpoint, e.g. <c>http://localhost:8123</c>.</param>
/// <param name="Table">Target table.</param>
/// <param name="Database">Database (default <c>default</c>).</param>
/// <param name="User">User (default <c>default</c>).</param>
/// <param name="Password">Password (default empty).</param>
/// <param name="CreateTable">Create the table from the input schema when missing.</param>
/// <param name="Engine">Engine of a created table.</param>
/// <param name="OrderBy">Sort key of a created table.</param>
/// <param name="PartitionBy">PARTITION BY expression of a created table.</param>
/// <param name="VersionColumn">ReplacingMergeTree version column.</param>
/// <param name="TimestampPrecision">Timestamp storage of a created table.</param>
/// <param name="BatchRows">Insert when this many rows are buffered.</param>
/// <param name="BatchBytes">Insert before the buffer would exceed this many bytes.</param>
/// <param name="FlushInterval">Insert buffered rows at least this often.</param>
/// <param name="Compression">Request body compression.</param>
/// <param name="MaxRetryTime">How long transient failures are retried before the pipeline fails.</param>
/// <param name="RequestTimeout">Timeout of one HTTP request.</param>
public sealed record ClickHouseSinkSpec(
    string Url,
    string Table,
    string? Database = null,
    string? User = null,
    string? Password = null,
    bool? CreateTable = null,
    ClickHouseEngineSpec? Engine = null,
    IReadOnlyList<string>? OrderBy = null,
    string? PartitionBy = null,
    string? VersionColumn = null,
    ClickHouseTimestampSpec? TimestampPrecision = null,
    int? BatchRows = null,
    int? BatchBytes = null,
    TimeSpan? FlushInterval = null,
    ClickHouseCompressionSpec? Compression = null,
    TimeSpan? MaxRetryTime = null,
    TimeSpan? RequestTimeout = null) : SinkConnectorSpec
{
    public const string KindName = "clickhouse";
    public override string Kind => KindName;
    public override string Describe() => $"{KindName}({Database ?? "default"}.{Table})";

    /// <summary>PEM file of the CA that signs an https server's certificate (default: the system's trust store).</summary>
    public string? CaFile { get; init; }

    public override IEnumerable<string> SecretValues() => Password is { Length: > 0 } p ? [p] : [];
}

/// <summary>
/// Applies a change stream (the <c>postgres_cdc</c> source's batches) to ClickHouse ReplacingMergeTree tables, one per
/// source table, keyed by its primary key, with a version (commit LSN, then position in the transaction) and an
/// <c>is_deleted</c> flag: <c>SELECT … FINAL WHERE NOT is_deleted</c> is the source table's state.
/// </summary>
/// <param name="Url">HTTP(S) endpoint.</param>
/// <param name="Database">Target database (default <c>default</c>).</param>
/// <param name="User">ClickHouse user.</param>
/// <param name="Password">ClickHouse password.</param>
/// <param name="TablePrefix">Prefix of each target table's name (default none: the source table's name).</param>
/// <param name="Tables">Explicit targets by source table (<c>schema.table: clickhouse_table</c>).</param>
/// <param name="CreateTables">Create missing target tables (default true).</param>
/// <param name="BatchRows">Insert when this many rows of one table are buffered.</param>
/// <param name="BatchBytes">Insert before the buffers would exceed this many bytes.</param>
/// <param name="FlushInterval">Insert rows older than this when the next batch arrives (checkpoints always insert).</param>
/// <param name="MaxRetryTime">How long transient failures are retried before the pipeline fails.</param>
/// <param name="RequestTimeout">Timeout of one HTTP request.</param>
public sealed record ClickHouseCdcSinkSpec(
    string Url,
    string? Database = null,
    string? User = null,
    string? Password = null,
    string? TablePrefix = null,
    IReadOnlyDictionary<string, string>? Tables = null,
    bool? CreateTables = null,
    int? BatchRows = null,
    int? BatchBytes = null,
    TimeSpan? FlushInterval = null,
    TimeSpan? MaxRetryTime = null,
    TimeSpan? RequestTimeout = null) : SinkConnectorSpec
{
    public const string KindName = "clickhouse_cdc";
    public override string Kind => KindName;
    public override string Describe() => $"{KindName}({Database ?? "default"})";
}

public enum DeliveryGuarantee { AtLeastOnce, ExactlyOnce }

/// <summary>Checkpoint settings; unset values take the runtime's defaults.</summary>
/// <param name="Interval">Time between checkpoints.</param>
/// <param name="Dir">Checkpoint directory.</param>
/// <param name="Keep">How many complete checkpoints to keep.</param>
public sealed record CheckpointSpec(TimeSpan? Interval, string? Dir, int? Keep);
