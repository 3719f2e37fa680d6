using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace AiEtl.Engine.Kafka;

/// <summary>librdkafka settings shared by the connectors, and the properties users may not override.</summary>
internal static class KafkaConfig
{
    /// <summary>Set by the source: its delivery guarantee depends on them.</summary>
    public static readonly HashSet<string> SourceReserved = new(StringComparer.Ordinal)
    {
        "bootstrap.servers", "metadata.broker.list", "group.id", "enable.auto.commit", "enable.auto.offset.store", "auto.offset.reset",
    };

    /// <summary>Set by the producers (sink and dead-letter output).</summary>
    public static readonly HashSet<string> ProducerReserved = new(StringComparer.Ordinal)
    {
        "bootstrap.servers", "metadata.broker.list", "enable.idempotence", "transactional.id",
    };

    public static ConsumerConfig Consumer(KafkaSourceOptions o, string clientId, bool multiTopic)
    {
        var metadata = o.MetadataColumns;
        // Only marshal what the reader uses: every marshalled field costs an allocation per message.
        var fields = new List<string>();
        if (metadata.Contains("_timestamp")) fields.Add("timestamp");
        if (multiTopic || metadata.Contains("_topic")) fields.Add("topic");
        if (metadata.Contains("_headers")) fields.Add("headers");
        var c = new ConsumerConfig
        {
            BootstrapServers = o.Brokers,
            GroupId = o.Group,
            ClientId = clientId,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            // Out-of-range offsets surface as errors the reader turns into a failure naming the lost range,
            // unless the spec allows a reset (then librdkafka resets to the earliest offset and the reader logs it).
            AutoOffsetReset = o.ResetOnOffsetOutOfRange ? AutoOffsetReset.Earliest : AutoOffsetReset.Error,
            // End-of-partition events tell the reader which partitions have caught up, so that they stop
            // holding back the per-partition watermark (ISplitEventTime).
            EnablePartitionEof = true,
            // The byte bound is what limits prefetch; queued.min.messages stays at librdkafka's default
            // (a low value, e.g. 16k, throttles fetching: measured ~3x slower on the mock broker).
            QueuedMaxMessagesKbytes = o.MaxPrefetchKBytes,
            // Once the prefetch queue has reached that bound, librdkafka postpones the next fetch of each partition
            // by this long (its default is 1 s): the reader drains 16 MiB well within a second and then sat idle
            // for the rest of it (measured: the source waited ~50% of its time and ran at half the rate it reaches
            // with 20 ms). Checking again after 20 ms costs a timer per partition while the pipeline backpressures.
            FetchQueueBackoffMs = 20,
            ConsumeResultFields = fields.Count == 0 ? "none" : string.Join(",", fields),
            AllowAutoCreateTopics = false,
        };
        Apply(c, o.Properties);
        return c;
    }

    public static ProducerConfig Producer(string brokers, string clientId, IReadOnlyDictionary<string, string> properties)
    {
        var c = new ProducerConfig
        {
            BootstrapServers = brokers,
            ClientId = clientId,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            // librdkafka would buffer up to 1 GiB of unsent messages; a full queue makes Produce wait for
            // deliveries instead, so a slow cluster backpressures the pipeline with bounded memory.
            QueueBufferingMaxKbytes = 32 * 1024,
            DeliveryReportFields = "status",
        };
        Apply(c, properties);
        return c;
    }

    public static AdminClientConfig Admin(string brokers, IReadOnlyDictionary<string, string> properties)
    {
        var c = new AdminClientConfig { BootstrapServers = brokers };
        // Security settings apply to the metadata client too; consumer-only keys would be rejected, so only
        // the connection-level ones (security.*, sasl.*, ssl.*, client.*, socket.*) are copied.
        foreach (var (k, v) in properties)
        {
            if (k.StartsWith("security.", StringComparison.Ordinal) || k.StartsWith("sasl.", StringComparison.Ordinal)
                || k.StartsWith("ssl.", StringComparison.Ordinal) || k.StartsWith("socket.", StringComparison.Ordinal)
                || k.StartsWith("client.", StringComparison.Ordinal))
            {
                c.Set(k, v);
            }
        }
        return c;
    }

    /// <summary>
    /// The properties a spec's <c>properties:</c> and <c>security:</c> stand for together (the spec loader rejects a
    /// key set in both places).
    /// </summary>
    public static IReadOnlyDictionary<string, string> Merge(IReadOnlyDictionary<string, string> properties, Spec.KafkaSecuritySpec? security)
    {
        if (security is null) return properties;
        var merged = new Dictionary<string, string>(properties, StringComparer.Ordinal);
        foreach (var (k, v) in security.ToLibrdkafka()) merged[k] = v;
        return merged;
    }

    private static readonly (string Key, string What)[] FileProperties =
    [
        ("ssl.ca.location", "CA file (tls.ca)"),
        ("ssl.certificate.location", "client certificate (tls.cert)"),
        ("ssl.key.location", "client key (tls.key)"),
    ];

    /// <summary>TLS files that do not exist or cannot be read (librdkafka would fail later with a less clear message).</summary>
    public static void CheckFiles(IReadOnlyDictionary<string, string>? properties, List<string> problems)
    {
        if (properties is null) return;
        foreach (var (key, what) in FileProperties)
        {
            if (!properties.TryGetValue(key, out var path) || path == "probe") continue;
            if (!File.Exists(path)) problems.Add($"security: the {what} '{path}' ({key}) does not exist");
        }
        if (properties.TryGetValue("sasl.mechanisms", out var mech) && mech is "PLAIN" or "SCRAM-SHA-256" or "SCRAM-SHA-512"
            && (!properties.ContainsKey("sasl.username") || !properties.ContainsKey("sasl.password")))
        {
            problems.Add($"security: SASL {mech} needs sasl.username and sasl.password");
        }
    }

    private static void Apply(ClientConfig c, IReadOnlyDictionary<string, string> properties)
    {
        foreach (var (k, v) in properties) c.Set(k, v);
    }

    /// <summary>Forwards librdkafka's log lines to <paramref name="logger"/> at matching levels.</summary>
    public static void Log(ILogger logger, LogMessage m)
    {
        var level = m.Level switch
        {
            SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical or SyslogLevel.Error => LogLevel.Error,
            SyslogLevel.Warning => LogLevel.Warning,
            SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
            _ => LogLevel.Debug,
        };
        if (logger.IsEnabled(level)) KafkaLog.Librdkafka(logger, level, m.Name, m.Facility, m.Message);
    }

    public static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Log messages of the Kafka connectors (source-generated, with event ids).</summary>
internal static partial class KafkaLog
{
    [LoggerMessage(EventId = 5100, Message = "librdkafka {Client} [{Facility}]: {Text}")]
    public static partial void Librdkafka(ILogger logger, LogLevel level, string client, string facility, string text);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Warning, Message = "kafka source {Source}: transient error, retrying: {Error}")]
    public static partial void TransientError(ILogger logger, string source, string error);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Warning, Message = "kafka source {Source}: committing offsets of checkpoint {Checkpoint} failed (the next checkpoint retries; the checkpoint itself holds the positions): {Error}")]
    public static partial void CommitFailed(ILogger logger, string source, long checkpoint, string error);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Warning, Message = "kafka source {Source}: {Topic} partition {Partition}: offsets {From}..{To} are no longer on the broker; on_offset_out_of_range: reset continues from offset {Reset} ({Lost} messages skipped)")]
    public static partial void OffsetReset(ILogger logger, string source, string topic, int partition, long from, long to, long reset, long lost);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Information, Message = "kafka source {Source} reader {Reader}: assigned {Assignment}")]
    public static partial void Assigned(ILogger logger, string source, string reader, string assignment);

    [LoggerMessage(EventId = 5105, Level = LogLevel.Warning, Message = "kafka {Component}: client error: {Error}")]
    public static partial void ClientError(ILogger logger, string component, string error);

    [LoggerMessage(EventId = 5106, Level = LogLevel.Information, Message = "kafka source {Source}: consuming message by message through Confluent.Kafka ({Reason})")]
    public static partial void PerMessageConsume(ILogger logger, string source, string reason);
}
