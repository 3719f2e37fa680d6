using System.Buffers.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Connectors.Files;
using AiEtl.Engine.Runtime;
using Apache.Arrow;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AiEtl.Engine.Kafka;

/// <summary>Options of <see cref="KafkaSink"/>.</summary>
public sealed record KafkaSinkOptions
{
    public required string Name { get; init; }

    /// <summary>Bootstrap servers, <c>host:port[,host:port…]</c>.</summary>
    public required string Brokers { get; init; }

    public required string Topic { get; init; }

    /// <summary>Column whose value (as text) becomes the message key; null writes messages without a key.</summary>
    public string? Key { get; init; }

    /// <summary>librdkafka producer properties applied last (linger.ms, compression.type, security, …).</summary>
    public IReadOnlyDictionary<string, string> Properties { get; init; } = new Dictionary<string, string>();

    public ILogger? Logger { get; init; }

    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Brokers)) problems.Add("brokers: must not be empty");
        if (string.IsNullOrWhiteSpace(Topic)) problems.Add("topic: must not be empty");
        if (Key is not null && Key.Length == 0) problems.Add("key: must not be empty");
        foreach (var key in Properties?.Keys ?? [])
            if (KafkaConfig.ProducerReserved.Contains(key)) problems.Add($"properties: '{key}' is set by the connector");
        KafkaConfig.CheckFiles(Properties, problems);
        return problems;
    }
}

/// <summary>
/// Writes each row as one JSON object (the JSON-lines encoding: keys in column order, exact integers,
/// shortest round-trip floats, UTC timestamps) to a Kafka topic, optionally keyed by a column.
/// <para>
/// Guarantee: <b>at-least-once</b>. Each writer owns an idempotent producer (<c>enable.idempotence</c>:
/// acks from all in-sync replicas, broker-side de-duplication of the producer's own retries, order kept per
/// partition); <see cref="ISinkWriter.PreCommitAsync"/> flushes and fails the checkpoint if any message of it was
/// not delivered. Rows written after the last completed checkpoint are written again after a restart, so
/// consumers may see duplicates (with read_uncommitted or read_committed alike).
/// </para>
/// <para>
/// Exactly-once would need a transactional producer per writer whose transaction is pre-committed at the
/// barrier and committed when the checkpoint completes — and, after a crash between the two, a restarted
/// writer that resumes that prepared transaction (same producer id and epoch) to commit it. Confluent.Kafka /
/// librdkafka 2.16 cannot resume a transaction: <c>InitTransactions</c> aborts it (Flink resumes through
/// reflection into the Java client; KIP-939 adds this as two-phase commit, not in librdkafka). Committing at
/// the barrier instead would publish rows of a checkpoint that may never complete. So the connector rejects
/// <c>delivery: exactly-once</c> rather than claim it; downstream consumers de-duplicate by key if they need to.
/// </para>
/// </summary>
public sealed class KafkaSink : ISink
{
    public KafkaSink(KafkaSinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0) throw new ConnectorConfigException($"kafka sink '{options.Name}'", problems);
        Options = options;
    }

    public KafkaSinkOptions Options { get; }
    public string Name => Options.Name;

    /// <summary>One idempotent producer per writer; more writers mean more connections, not more order.</summary>
    public int MaxParallelism => 64;

    public IReadOnlyList<string> Validate(Schema input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var problems = ArrowColumnCursor.ValidateSchema(input).ToList();
        if (Options.Key is { } key && input.GetFieldIndex(key) < 0)
            problems.Add($"key column '{key}' is not in the sink's input ({string.Join(", ", input.FieldsList.Select(f => f.Name))})");
        return problems;
    }

    public ISinkWriter CreateWriter(Schema input, ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(context);
        var problems = Validate(input);
        if (problems.Count > 0) throw new ConnectorConfigException($"kafka sink '{Name}'", problems);
        return new Writer(this, input, context);
    }

    private sealed class Writer : ISinkWriter
    {
        private readonly KafkaSink _sink;
        private readonly ConnectorContext _context;
        private readonly JsonLinesEncoder _encoder;
        private readonly ByteBuffer _buffer = new(256 * 1024);
        private readonly ArrowColumnCursor? _key;
        private readonly int _keyIndex;
        private readonly byte[] _keyScratch = new byte[64];
        private readonly ILogger _logger;
        private readonly Action<DeliveryReport<byte[]?, byte[]>> _onDelivery;
        private IProducer<byte[]?, byte[]>? _producer;
        private long _failed;
        private string? _firstError;

        public Writer(KafkaSink sink, Schema input, ConnectorContext context)
        {
            _sink = sink;
            _context = context;
            _encoder = new JsonLinesEncoder(input);
            _logger = sink.Options.Logger ?? NullLogger.Instance;
            if (sink.Options.Key is { } key)
            {
                _keyIndex = input.GetFieldIndex(key);
                _key = new ArrowColumnCursor(ColumnTypes.FromArrow(input.FieldsList[_keyIndex].DataType));
            }
            _onDelivery = OnDelivery;
        }

        public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct)
        {
            var o = _sink.Options;
            var clientId = $"aietl-{_context.Metrics.Pipeline}-{o.Name}-{_context.Task.Index}";
            try
            {
                _producer = new ProducerBuilder<byte[]?, byte[]>(KafkaConfig.Producer(o.Brokers, clientId, o.Properties))
                    .SetLogHandler((_, m) => KafkaConfig.Log(_logger, m))
                    .SetErrorHandler((_, e) => KafkaLog.ClientError(_logger, $"sink '{o.Name}'", e.ToString()))
                    .Build();
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or KafkaException)
            {
                throw new KafkaSinkException($"kafka sink '{o.Name}': invalid producer configuration (properties): {e.Message}", e);
            }
            return default;
        }

        public ValueTask WriteAsync(Batch batch, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(batch);
            ThrowIfFailed();
            if (batch.Length == 0) return default;
            _buffer.Clear();
            _encoder.Encode(batch, _buffer);
            _key?.Attach(batch.Column(_keyIndex));
            try
            {
                // One JSON object per line; strings escape control characters, so '\n' only ends rows.
                var text = _buffer.Span;
                var row = 0;
                while (text.Length > 0)
                {
                    var nl = text.IndexOf((byte)'\n');
                    var value = text[..nl].ToArray();
                    text = text[(nl + 1)..];
                    Produce(new Message<byte[]?, byte[]> { Key = KeyOf(row), Value = value }, ct);
                    row++;
                }
            }
            finally
            {
                _key?.Release();
            }
            return default;
        }

        private byte[]? KeyOf(int row)
        {
            var k = _key;
            if (k is null || k.IsNull(row)) return null;
            int n;
            switch (k.Kind)
            {
                case ColumnKind.String: return k.Utf8(row).ToArray();
                case ColumnKind.Int64: Utf8Formatter.TryFormat(k.Int64(row), _keyScratch, out n); break;
                case ColumnKind.Int32: Utf8Formatter.TryFormat(k.Int32(row), _keyScratch, out n); break;
                case ColumnKind.Bool: return k.Bool(row) ? "true"u8.ToArray() : "false"u8.ToArray();
                case ColumnKind.Float64: n = TextValues.WriteDouble(_keyScratch, k.Double(row)); break;
                case ColumnKind.Timestamp: n = TextValues.WriteTimestamp(_keyScratch, k.Int64(row)); break;
                default: n = TextValues.WriteDate(_keyScratch, k.Int32(row)); break;
            }
            return _keyScratch.AsSpan(0, n).ToArray();
        }

        private void Produce(Message<byte[]?, byte[]> message, CancellationToken ct)
        {
            while (true)
            {
                try
                {
                    _producer!.Produce(_sink.Options.Topic, message, _onDelivery);
                    return;
                }
                catch (ProduceException<byte[]?, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                {
                    // librdkafka's send queue is full: wait for deliveries (backpressure on the pipeline).
                    ct.ThrowIfCancellationRequested();
                    ThrowIfFailed();
                    _producer!.Poll(TimeSpan.FromMilliseconds(50));
                }
                catch (ProduceException<byte[]?, byte[]> e)
                {
                    throw new KafkaSinkException($"kafka sink '{_sink.Name}': producing to topic '{_sink.Options.Topic}' failed: {e.Error}", e);
                }
            }
        }

        private void OnDelivery(DeliveryReport<byte[]?, byte[]> report)
        {
            if (!report.Error.IsError) return;
            if (Interlocked.Increment(ref _failed) == 1) Interlocked.CompareExchange(ref _firstError, report.Error.ToString(), null);
        }

        private void ThrowIfFailed()
        {
            var failed = Interlocked.Read(ref _failed);
            if (failed > 0)
                throw new KafkaSinkException($"kafka sink '{_sink.Name}': {failed} message(s) to topic '{_sink.Options.Topic}' were not delivered; first error: {Volatile.Read(ref _firstError)}");
        }

        public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct)
        {
            // Every message written before the barrier must be acknowledged before the checkpoint may complete.
            while (_producer!.Flush(TimeSpan.FromMilliseconds(100)) > 0)
            {
                ct.ThrowIfCancellationRequested();
                ThrowIfFailed();
            }
            ThrowIfFailed();
            return new ValueTask<byte[]?>((byte[]?)null);
        }

        public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;

        public ValueTask DisposeAsync()
        {
            // Messages of an unfinished checkpoint are not waited for: the restart replays them.
            _producer?.Dispose();
            _producer = null;
            _buffer.Dispose();
            return default;
        }
    }
}

/// <summary>The Kafka sink could not deliver rows (the checkpoint fails; the job restarts from the last one).</summary>
public sealed class KafkaSinkException : Exception
{
    public KafkaSinkException(string message) : base(message)
    {
    }

    public KafkaSinkException(string message, Exception inner) : base(message, inner)
    {
    }

    public KafkaSinkException()
    {
    }
}
