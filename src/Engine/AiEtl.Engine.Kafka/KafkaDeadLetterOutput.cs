using System.Globalization;
using System.Text;
using AiEtl.Engine.Runtime;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AiEtl.Engine.Kafka;

/// <summary>Options of <see cref="KafkaDeadLetterOutput"/>.</summary>
public sealed record KafkaDeadLetterOptions
{
    public required string Brokers { get; init; }
    public required string Topic { get; init; }

    /// <summary>Pipeline name written into every record's headers.</summary>
    public required string Pipeline { get; init; }

    /// <summary>librdkafka producer properties applied last.</summary>
    public IReadOnlyDictionary<string, string> Properties { get; init; } = new Dictionary<string, string>();

    /// <summary>Clock for the <c>aietl.time</c> header (the system clock by default).</summary>
    public TimeProvider? Time { get; init; }

    public ILogger? Logger { get; init; }
}

/// <summary>
/// Dead letters as Kafka messages, as Kafka Connect writes them: the value is the record's raw bytes exactly
/// as read, without a key; headers carry the rest as UTF-8 text — <c>aietl.pipeline</c>, <c>aietl.source</c>,
/// one <c>aietl.position.&lt;field&gt;</c> per position field (topic/partition/offset, file/line/byte_offset, lsn),
/// <c>aietl.error_class</c>, <c>aietl.error</c> and <c>aietl.time</c> (UTC, ISO 8601 with microseconds).
/// Idempotent producer; <see cref="FlushAsync"/> (called at every checkpoint) returns only when every letter
/// written so far is acknowledged and throws if any was not, so a checkpoint never counts a lost letter.
/// Thread-safe.
/// </summary>
public sealed class KafkaDeadLetterOutput : IDeadLetterOutput
{
    public const string HeaderPrefix = "aietl.";

    private readonly KafkaDeadLetterOptions _options;
    private readonly TimeProvider _time;
    private readonly IProducer<Null, byte[]> _producer;
    private readonly Action<DeliveryReport<Null, byte[]>> _onDelivery;
    private readonly byte[] _pipeline;
    private long _count;
    private long _failed;
    private string? _firstError;
    private int _disposed;

    public KafkaDeadLetterOutput(KafkaDeadLetterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Brokers);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Topic);
        foreach (var key in options.Properties.Keys)
            if (KafkaConfig.ProducerReserved.Contains(key)) throw new ArgumentException($"property '{key}' is set by the dead-letter output", nameof(options));
        var fileProblems = new List<string>();
        KafkaConfig.CheckFiles(options.Properties, fileProblems);
        if (fileProblems.Count > 0) throw new ArgumentException($"dead letters to kafka topic '{options.Topic}': {string.Join("; ", fileProblems)}", nameof(options));
        _options = options;
        _time = options.Time ?? TimeProvider.System;
        _pipeline = Encoding.UTF8.GetBytes(options.Pipeline);
        var logger = options.Logger ?? NullLogger.Instance;
        try
        {
            _producer = new ProducerBuilder<Null, byte[]>(KafkaConfig.Producer(options.Brokers, $"aietl-{options.Pipeline}-dead-letters", options.Properties))
                .SetLogHandler((_, m) => KafkaConfig.Log(logger, m))
                .SetErrorHandler((_, e) => KafkaLog.ClientError(logger, $"dead letters '{options.Topic}'", e.ToString()))
                .Build();
        }
        catch (Exception e) when (e is InvalidOperationException or KafkaException)
        {
            throw new ArgumentException($"dead letters to kafka topic '{options.Topic}': invalid producer configuration (properties): {e.Message}", nameof(options), e);
        }
        _onDelivery = OnDelivery;
    }

    public string Topic => _options.Topic;

    public long Count => Interlocked.Read(ref _count);

    public void Write(DeadLetter letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var headers = new Headers
        {
            { HeaderPrefix + "pipeline", _pipeline },
            { HeaderPrefix + "source", Encoding.UTF8.GetBytes(letter.Source) },
        };
        foreach (var (key, value) in letter.Position)
            headers.Add(HeaderPrefix + "position." + key, Encoding.UTF8.GetBytes(Convert.ToString(value, CultureInfo.InvariantCulture) ?? ""));
        headers.Add(HeaderPrefix + "error_class", Encoding.UTF8.GetBytes(letter.ErrorClass));
        headers.Add(HeaderPrefix + "error", Encoding.UTF8.GetBytes(letter.Error));
        headers.Add(HeaderPrefix + "time", Encoding.UTF8.GetBytes(_time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture)));
        var message = new Message<Null, byte[]> { Value = letter.Raw.ToArray(), Headers = headers };
        while (true)
        {
            try
            {
                _producer.Produce(_options.Topic, message, _onDelivery);
                break;
            }
            catch (ProduceException<Null, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                _producer.Poll(TimeSpan.FromMilliseconds(50));
            }
            catch (ProduceException<Null, byte[]> e)
            {
                throw new KafkaSinkException($"dead letters: producing to topic '{_options.Topic}' failed: {e.Error}", e);
            }
        }
        Interlocked.Increment(ref _count);
    }

    private void OnDelivery(DeliveryReport<Null, byte[]> report)
    {
        if (!report.Error.IsError) return;
        if (Interlocked.Increment(ref _failed) == 1) Interlocked.CompareExchange(ref _firstError, report.Error.ToString(), null);
    }

    /// <summary>Waits until every letter written so far is acknowledged; throws if any was not delivered.</summary>
    public ValueTask FlushAsync(CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        while (_producer.Flush(TimeSpan.FromMilliseconds(100)) > 0)
        {
            ct.ThrowIfCancellationRequested();
            ThrowIfFailed();
        }
        ThrowIfFailed();
        return default;
    }

    private void ThrowIfFailed()
    {
        var failed = Interlocked.Read(ref _failed);
        if (failed > 0)
            throw new KafkaSinkException($"dead letters: {failed} record(s) to topic '{_options.Topic}' were not delivered; first error: {Volatile.Read(ref _firstError)}");
    }

    /// <summary>Flushes (for at most 30 s) and closes the producer; throws if a letter was not delivered.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return default;
        try
        {
            var left = _producer.Flush(TimeSpan.FromSeconds(30));
            if (left > 0) throw new KafkaSinkException($"dead letters: {left} record(s) to topic '{_options.Topic}' were still undelivered when the output closed");
            ThrowIfFailed();
        }
        finally
        {
            _producer.Dispose();
        }
        return default;
    }
}
