namespace AiEtl.Engine.Spec;

/// <summary>Whether a source kind takes a declared <c>schema:</c>.</summary>
internal enum SchemaRule
{
    /// <summary>The source needs a declared schema (files, Kafka).</summary>
    Required,
    /// <summary>The connector has a fixed schema and rejects <c>schema:</c> (generator).</summary>
    Fixed,
    /// <summary>A declared schema is optional (e.g. discovered from a database table).</summary>
    Optional,
}

/// <summary>A source connector kind: its YAML key, schema rule and option parser.</summary>
/// <param name="Name">The connector's key in YAML.</param>
/// <param name="Schema">Whether the source takes a declared schema.</param>
/// <param name="Parse">Reads the options node at a path; null after reporting errors.</param>
/// <param name="FixedSchema">For <see cref="SchemaRule.Fixed"/>: the schema a parsed connector produces.</param>
/// <param name="ExtraColumns">
/// Columns the connector appends after the declared ones (e.g. Kafka metadata), with the option key that asks
/// for them (for messages); they are part of the source schema, so event time may name them.
/// </param>
/// <param name="SchemaOptional">For <see cref="SchemaRule.Required"/>: true when these options let the connector find the schema itself.</param>
internal sealed record SourceConnectorKind(
    string Name,
    SchemaRule Schema,
    Func<SpecContext, YNode, string, SourceConnectorSpec?> Parse,
    Func<SourceConnectorSpec, IReadOnlyList<ColumnSpec>>? FixedSchema = null,
    Func<SourceConnectorSpec, IReadOnlyList<ColumnSpec>>? ExtraColumns = null,
    Func<SourceConnectorSpec, bool>? SchemaOptional = null);

/// <summary>A sink connector kind: its YAML key and option parser.</summary>
internal sealed record SinkConnectorKind(string Name, Func<SpecContext, YNode, string, SinkConnectorSpec?> Parse);

/// <summary>
/// The connector kinds a spec may name, registered explicitly in one table each: a new connector is one
/// entry here (plus its options record and parser), and one property in <c>schemas/pipeline.schema.json</c>.
/// </summary>
public static class SpecConnectors
{
    internal static readonly IReadOnlyList<SourceConnectorKind> Sources =
    [
        new(GeneratorSourceSpec.KindName, SchemaRule.Fixed, ParseGenerator, c => GeneratorSchemas.For(((GeneratorSourceSpec)c).Generator)),
        new(FileSourceSpec.KindName, SchemaRule.Required, ParseFileSource),
        new(KafkaSourceSpec.KindName, SchemaRule.Required, ParseKafkaSource,
            ExtraColumns: c => ((KafkaSourceSpec)c).MetadataColumns.Select(n => KafkaMetadataColumns.Find(n)!).ToArray(),
            SchemaOptional: c => ((KafkaSourceSpec)c).Format == KafkaFormat.Avro),
        new(PostgresCdcSourceSpec.KindName, SchemaRule.Optional, ParsePostgresCdc),
        new(NexmarkSourceSpec.KindName, SchemaRule.Fixed, ParseNexmark, c => GeneratorSchemas.For(((NexmarkSourceSpec)c).Stream)),
    ];

    internal static readonly IReadOnlyList<SinkConnectorKind> Sinks =
    [
        new(FileSinkSpec.KindName, ParseFileSink),
        new(ConsoleSinkSpec.KindName, ParseConsoleSink),
        new(NullSinkSpec.KindName, ParseNullSink),
        new(PostgresSinkSpec.KindName, ParsePostgresSink),
        new(ClickHouseSinkSpec.KindName, ParseClickHouseSink),
        new(ClickHouseCdcSinkSpec.KindName, ParseClickHouseCdcSink),
        new(KafkaSinkSpec.KindName, ParseKafkaSink),
    ];

    /// <summary>Dead-letter outputs other than <c>file</c>, by YAML key.</summary>
    internal static readonly IReadOnlyList<(string Name, Func<SpecContext, YNode, string, DeadLetterTargetSpec?> Parse)> DeadLetterTargets =
    [
        (KafkaDeadLetterSpec.KindName, ParseKafkaDeadLetters),
    ];

    /// <summary>Source connector keys, in registration order.</summary>
    public static IReadOnlyList<string> SourceKinds { get; } = Sources.Select(s => s.Name).ToArray();

    /// <summary>Sink connector keys, in registration order.</summary>
    public static IReadOnlyList<string> SinkKinds { get; } = Sinks.Select(s => s.Name).ToArray();

    internal const int MaxBatchSize = 1 << 20;

    private static GeneratorSourceSpec? ParseGenerator(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "generator options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["kind", "rows", "rate", "seed", "batch_size", "start_time"]);
        var kind = r.Enum("kind", SpecNames.Generators, "generator kind", required: true);
        var rows = r.Int64("rows", min: 1);
        var rate = r.Int64("rate", min: 0);
        var seed = r.Int64("seed");
        var batchSize = r.Int32("batch_size", min: 1, max: MaxBatchSize);
        var start = r.Timestamp("start_time");
        return kind is { } k ? new GeneratorSourceSpec(k, rows, rate, seed, batchSize, start) : null;
    }

    private static NexmarkSourceSpec? ParseNexmark(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "nexmark options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["stream", "events", "event_rate", "seed", "chunk_events", "base_time"]);
        var stream = r.Enum("stream", SpecNames.NexmarkStreams, "nexmark stream", required: true);
        var events = r.Int64("events", min: 1);
        var rate = r.Int64("event_rate", min: 1);
        var seed = r.Int64("seed");
        var chunk = r.Int32("chunk_events", min: 50, max: MaxBatchSize);
        var baseTime = r.Timestamp("base_time");
        return stream is { } st ? new NexmarkSourceSpec(st, events, rate, seed, chunk, baseTime) : null;
    }

    private static FileSourceSpec? ParseFileSource(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "file source options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["path", "format", "batch_size", "csv"]);
        var filePath = r.String("path", required: true);
        var format = ResolveFormat(ctx, r, filePath);
        var batchSize = r.Int32("batch_size", min: 1, max: MaxBatchSize);
        CsvOptionsSpec? csv = null;
        if (r.Entry("csv") is { } csvEntry)
        {
            csv = ParseCsv(ctx, csvEntry.Value, r.PathOf("csv"));
            if (format is { } f && f != FileFormat.Csv)
            {
                ctx.Error(csvEntry.Key, r.PathOf("csv"), $"csv options apply only to csv files (this source reads {SpecNames.Of(f)})");
            }
        }
        return filePath is not null && format is { } fmt ? new FileSourceSpec(filePath, fmt, batchSize, csv) : null;
    }

    private static CsvOptionsSpec? ParseCsv(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "csv options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["header", "delimiter"]);
        var header = r.Bool("header");
        char? delimiter = null;
        if (r.Node("delimiter") is { } dn && ctx.String(dn, r.PathOf("delimiter"), allowEmpty: true) is { } d)
        {
            if (d.Length != 1 || d[0] is '"' or '\n' or '\r')
            {
                ctx.Error(dn, r.PathOf("delimiter"), $"the delimiter must be one character other than a quote or line break, got \"{d}\"");
            }
            else
            {
                delimiter = d[0];
            }
        }
        return new CsvOptionsSpec(header, delimiter);
    }

    private static FileSinkSpec? ParseFileSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "file sink options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["path", "format"]);
        var filePath = r.String("path", required: true);
        var format = ResolveFormat(ctx, r, filePath);
        return filePath is not null && format is { } f ? new FileSinkSpec(filePath, f) : null;
    }

    private static ConsoleSinkSpec? ParseConsoleSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "console sink options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["max_rows", "format"]);
        var maxRows = r.Int32("max_rows", min: 1);
        var format = r.Enum("format", SpecNames.ConsoleFormats, "console format");
        return new ConsoleSinkSpec(maxRows, format);
    }

    private static NullSinkSpec? ParseNullSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "null sink options", nullIsEmpty: true) is not { } map) return null;
        _ = new MapReader(ctx, map, path, []);
        return new NullSinkSpec();
    }

    internal static readonly IReadOnlyList<KeyValuePair<string, KafkaStart>> KafkaStarts =
    [
        new("committed", KafkaStart.Committed),
        new("earliest", KafkaStart.Earliest),
        new("latest", KafkaStart.Latest),
        new("timestamp", KafkaStart.Timestamp),
    ];

    internal static readonly IReadOnlyList<KeyValuePair<string, KafkaStop>> KafkaStops =
    [
        new("never", KafkaStop.Never),
        new("latest", KafkaStop.Latest),
    ];

    internal static readonly IReadOnlyList<KeyValuePair<string, KafkaOffsetOutOfRange>> KafkaOutOfRange =
    [
        new("fail", KafkaOffsetOutOfRange.Fail),
        new("reset", KafkaOffsetOutOfRange.Reset),
    ];

    internal static readonly IReadOnlyList<KeyValuePair<string, KafkaFormat>> KafkaFormats = [new("json", KafkaFormat.Json), new("avro", KafkaFormat.Avro)];

    /// <summary>librdkafka properties the Kafka source sets itself (its guarantees depend on them).</summary>
    private static readonly Dictionary<string, string> KafkaSourceReserved = new(StringComparer.Ordinal)
    {
        ["bootstrap.servers"] = "use 'brokers'",
        ["metadata.broker.list"] = "use 'brokers'",
        ["group.id"] = "use 'group'",
        ["enable.auto.commit"] = "offsets are committed only when a checkpoint completes",
        ["enable.auto.offset.store"] = "offsets are committed only when a checkpoint completes",
        ["auto.offset.reset"] = "use 'start' and 'on_offset_out_of_range'",
    };

    /// <summary>librdkafka properties the Kafka producers set themselves.</summary>
    private static readonly Dictionary<string, string> KafkaProducerReserved = new(StringComparer.Ordinal)
    {
        ["bootstrap.servers"] = "use 'brokers'",
        ["metadata.broker.list"] = "use 'brokers'",
        ["enable.idempotence"] = "the producer is always idempotent",
        ["transactional.id"] = "the Kafka sink does not use transactions (see the README on delivery guarantees)",
    };

    private static KafkaSourceSpec? ParseKafkaSource(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "kafka source options") is not { } map) return null;
        var r = new MapReader(ctx, map, path,
            ["brokers", "topic", "topics", "group", "format", "start", "start_timestamp", "stop", "batch_size", "poll_timeout", "metadata_columns", "on_offset_out_of_range", "security", "properties",
                "schema_registry"]);
        var ok = true;
        var brokers = r.String("brokers", required: true);
        var topics = new List<string>();
        var topicEntry = r.Entry("topic");
        var topicsEntry = r.Entry("topics");
        if (topicEntry is null && topicsEntry is null)
        {
            r.Missing("topic", "a kafka source needs 'topic' (or a list of 'topics')");
            ok = false;
        }
        else if (topicEntry is not null && topicsEntry is not null)
        {
            ctx.Error(topicsEntry.Value.Key, r.PathOf("topics"), "use either 'topic' or 'topics', not both");
            ok = false;
        }
        if (topicEntry is not null)
        {
            if (r.String("topic") is { } t && CheckTopic(ctx, topicEntry.Value.Value, r.PathOf("topic"), t)) topics.Add(t);
            else ok = false;
        }
        else if (topicsEntry is { } te)
        {
            ok &= ReadTopicList(ctx, te.Value, r.PathOf("topics"), topics);
        }
        var group = r.String("group");
        var format = r.Enum("format", KafkaFormats, "kafka value format");
        var start = r.Enum("start", KafkaStarts, "start position");
        var startTimestamp = r.Timestamp("start_timestamp");
        if (start == KafkaStart.Timestamp && !r.Has("start_timestamp"))
        {
            ctx.Error(r.Node("start")!, r.PathOf("start"), "start: timestamp needs start_timestamp (e.g. 2026-01-31T00:00:00Z)");
            ok = false;
        }
        else if (r.Entry("start_timestamp") is { } ste && start != KafkaStart.Timestamp)
        {
            ctx.Error(ste.Key, r.PathOf("start_timestamp"), "start_timestamp applies only with start: timestamp");
            ok = false;
        }
        var stop = r.Enum("stop", KafkaStops, "stop position");
        var batchSize = r.Int32("batch_size", min: 1, max: MaxBatchSize);
        var pollTimeout = r.Duration("poll_timeout", allowZero: false);
        var metadata = new List<string>();
        if (r.Node("metadata_columns") is { } mn)
        {
            ok &= ReadMetadataColumns(ctx, mn, r.PathOf("metadata_columns"), metadata);
        }
        var outOfRange = r.Enum("on_offset_out_of_range", KafkaOutOfRange, "out-of-range policy");
        var properties = ReadProperties(ctx, r, KafkaSourceReserved, ref ok);
        var security = ReadKafkaSecurity(ctx, r, properties, ref ok);
        KafkaSchemaRegistrySpec? registry = null;
        if (r.Entry("schema_registry") is { } sre)
        {
            if (format != KafkaFormat.Avro)
            {
                ctx.Error(sre.Key, r.PathOf("schema_registry"), "schema_registry applies only with format: avro");
                ok = false;
            }
            registry = ReadSchemaRegistry(ctx, sre.Value, r.PathOf("schema_registry"));
            ok &= registry is not null;
        }
        else if (format == KafkaFormat.Avro)
        {
            ctx.Error(r.Node("format")!, r.PathOf("format"), "format: avro needs schema_registry: { url: http://host:8081 } (where the writer schemas are)");
            ok = false;
        }
        if (brokers is null || !ok) return null;
        return new KafkaSourceSpec(brokers, topics, group, format, start, batchSize, pollTimeout, metadata, outOfRange, properties)
        {
            StartTimestamp = startTimestamp,
            Stop = stop,
            Security = security,
            SchemaRegistry = registry,
        };
    }

    /// <summary><c>schema_registry: { url, subject, basic_auth_user, basic_auth_password, request_timeout }</c>.</summary>
    private static KafkaSchemaRegistrySpec? ReadSchemaRegistry(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "schema registry options") is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["url", "subject", "basic_auth_user", "basic_auth_password", "request_timeout"]);
        var ok = true;
        var url = r.String("url", required: true);
        if (url != null && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Query.Length > 0))
        {
            ctx.Error(r.Node("url")!, r.PathOf("url"), $"url must be an http:// or https:// URL without a query string, e.g. http://localhost:8081 (got '{url}')");
            ok = false;
        }
        var subject = r.String("subject");
        var user = r.String("basic_auth_user");
        var password = r.String("basic_auth_password", allowEmpty: true);
        if ((user is null) != (password is null))
        {
            ctx.Error(r.Entry(user is null ? "basic_auth_password" : "basic_auth_user")!.Value.Key, r.PathOf(user is null ? "basic_auth_user" : "basic_auth_password"),
                "basic auth needs both basic_auth_user and basic_auth_password");
            ok = false;
        }
        var timeout = r.Duration("request_timeout", allowZero: false);
        return url is not null && ok ? new KafkaSchemaRegistrySpec(url, subject, user, password, timeout) : null;
    }

    private static KafkaSinkSpec? ParseKafkaSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "kafka sink options") is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["brokers", "topic", "key", "security", "properties"]);
        var ok = true;
        var brokers = r.String("brokers", required: true);
        var topic = r.String("topic", required: true);
        if (topic is not null) ok &= CheckTopic(ctx, r.Node("topic")!, r.PathOf("topic"), topic);
        var key = r.String("key");
        var properties = ReadProperties(ctx, r, KafkaProducerReserved, ref ok);
        var security = ReadKafkaSecurity(ctx, r, properties, ref ok);
        return brokers is not null && topic is not null && ok ? new KafkaSinkSpec(brokers, topic, key, properties) { Security = security } : null;
    }

    private static KafkaDeadLetterSpec? ParseKafkaDeadLetters(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "kafka dead-letter options") is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["brokers", "topic", "security", "properties"]);
        var ok = true;
        var brokers = r.String("brokers", required: true);
        var topic = r.String("topic", required: true);
        if (topic is not null) ok &= CheckTopic(ctx, r.Node("topic")!, r.PathOf("topic"), topic);
        var properties = ReadProperties(ctx, r, KafkaProducerReserved, ref ok);
        var security = ReadKafkaSecurity(ctx, r, properties, ref ok);
        return brokers is not null && topic is not null && ok ? new KafkaDeadLetterSpec(brokers, topic, properties) { Security = security } : null;
    }

    internal static readonly IReadOnlyList<KeyValuePair<string, KafkaSecurityProtocol>> KafkaProtocols =
    [
        new("plaintext", KafkaSecurityProtocol.Plaintext),
        new("ssl", KafkaSecurityProtocol.Ssl),
        new("sasl_plaintext", KafkaSecurityProtocol.SaslPlaintext),
        new("sasl_ssl", KafkaSecurityProtocol.SaslSsl),
    ];

    internal static readonly IReadOnlyList<KeyValuePair<string, KafkaSaslMechanism>> KafkaMechanisms =
    [
        new("PLAIN", KafkaSaslMechanism.Plain),
        new("SCRAM-SHA-256", KafkaSaslMechanism.ScramSha256),
        new("SCRAM-SHA-512", KafkaSaslMechanism.ScramSha512),
    ];

    /// <summary>
    /// <c>security: { protocol, sasl: { mechanism, username, password }, tls: { ca, cert, key, key_password, verify_hostname } }</c>.
    /// The protocol defaults to what the blocks imply; a block the protocol does not use, a mechanism without
    /// credentials, a certificate without its key, or a <c>properties</c> entry that would override one of these is an error.
    /// </summary>
    private static KafkaSecuritySpec? ReadKafkaSecurity(SpecContext ctx, MapReader parent, IReadOnlyDictionary<string, string> properties, ref bool ok)
    {
        if (parent.Node("security") is not { } node) return null;
        var path = parent.PathOf("security");
        if (ctx.Mapping(node, path, "security options") is not { } map)
        {
            ok = false;
            return null;
        }
        var errors = ctx.Errors.Count;
        var r = new MapReader(ctx, map, path, ["protocol", "sasl", "tls"]);
        var protocol = r.Enum("protocol", KafkaProtocols, "security protocol");
        KafkaSaslMechanism? mechanism = null;
        string? user = null, password = null, ca = null, cert = null, key = null, keyPassword = null;
        bool? verify = null;
        var hasSasl = r.Node("sasl") is not null;
        var hasTls = r.Node("tls") is not null;
        if (r.Node("sasl") is { } sn && ctx.Mapping(sn, r.PathOf("sasl"), "sasl options") is { } sm)
        {
            var sr = new MapReader(ctx, sm, r.PathOf("sasl"), ["mechanism", "username", "password"]);
            mechanism = sr.Enum("mechanism", KafkaMechanisms, "SASL mechanism", required: true);
            user = sr.String("username", required: true);
            password = sr.String("password", required: true);
        }
        if (r.Node("tls") is { } tn && ctx.Mapping(tn, r.PathOf("tls"), "tls options", nullIsEmpty: true) is { } tm)
        {
            var tr = new MapReader(ctx, tm, r.PathOf("tls"), ["ca", "cert", "key", "key_password", "verify_hostname"]);
            ca = tr.String("ca");
            cert = tr.String("cert");
            key = tr.String("key");
            keyPassword = tr.String("key_password");
            verify = tr.Bool("verify_hostname");
            if ((cert is null) != (key is null) && (tr.Entry("cert") ?? tr.Entry("key")) is { } half)
                ctx.Error(half.Key, tr.PathOf(cert is null ? "key" : "cert"), "a client certificate needs both 'cert' and 'key'");
            if (keyPassword is not null && key is null && tr.Entry("key_password") is { } kpe)
                ctx.Error(kpe.Key, tr.PathOf("key_password"), "key_password applies to an encrypted 'key'");
        }
        var effective = protocol ?? (hasSasl, hasTls) switch
        {
            (true, true) => KafkaSecurityProtocol.SaslSsl,
            (true, false) => KafkaSecurityProtocol.SaslPlaintext,
            (false, true) => KafkaSecurityProtocol.Ssl,
            _ => KafkaSecurityProtocol.Plaintext,
        };
        var saslProtocol = effective is KafkaSecurityProtocol.SaslPlaintext or KafkaSecurityProtocol.SaslSsl;
        var tlsProtocol = effective is KafkaSecurityProtocol.Ssl or KafkaSecurityProtocol.SaslSsl;
        if (protocol is not null)
        {
            var at = r.Node("protocol")!;
            if (saslProtocol && !hasSasl) ctx.Error(at, r.PathOf("protocol"), $"protocol {SpecNames.NameIn(KafkaProtocols, effective)} needs a 'sasl' block (mechanism, username, password)");
            if (!saslProtocol && hasSasl) ctx.Error(r.Entry("sasl")!.Value.Key, r.PathOf("sasl"), $"'sasl' does not apply to protocol {SpecNames.NameIn(KafkaProtocols, effective)} (use sasl_plaintext or sasl_ssl)");
            if (!tlsProtocol && hasTls) ctx.Error(r.Entry("tls")!.Value.Key, r.PathOf("tls"), $"'tls' does not apply to protocol {SpecNames.NameIn(KafkaProtocols, effective)} (use ssl or sasl_ssl)");
        }
        var security = new KafkaSecuritySpec(effective, mechanism, user, password, ca, cert, key, keyPassword, verify);
        foreach (var k in security.ToLibrdkafka().Keys.Where(properties.ContainsKey))
        {
            var pe = parent.Node("properties") is YMapping pm ? pm.Entries.FirstOrDefault(e => e.Name == k).Key : null;
            ctx.Error(pe ?? node, SpecContext.Child(parent.PathOf("properties"), k), $"property '{k}' is also set by 'security'; set it in one place");
        }
        if (ctx.Errors.Count != errors)
        {
            ok = false;
            return null;
        }
        return security;
    }

    /// <summary>Kafka's topic rule: 1–249 characters of <c>[A-Za-z0-9._-]</c>, not <c>.</c> or <c>..</c>.</summary>
    private static bool CheckTopic(SpecContext ctx, YNode node, string path, string topic)
    {
        if (topic.Length <= 249 && topic is not ("." or "..") && topic.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')) return true;
        ctx.Error(node, path, $"invalid topic name '{topic}': use 1 to 249 letters, digits, '.', '_' and '-'");
        return false;
    }

    private static bool ReadTopicList(SpecContext ctx, YNode node, string path, List<string> topics)
    {
        if (ctx.Sequence(node, path, "topics") is not { } seq) return false;
        if (seq.Items.Count == 0)
        {
            ctx.Error(seq, path, "'topics' is empty; list at least one topic");
            return false;
        }
        var ok = true;
        for (var i = 0; i < seq.Items.Count; i++)
        {
            var itemPath = SpecContext.Item(path, i);
            if (ctx.String(seq.Items[i], itemPath) is not { } t || !CheckTopic(ctx, seq.Items[i], itemPath, t))
            {
                ok = false;
            }
            else if (topics.Contains(t))
            {
                ctx.Error(seq.Items[i], itemPath, $"topic '{t}' is listed twice");
                ok = false;
            }
            else
            {
                topics.Add(t);
            }
        }
        return ok;
    }

    private static bool ReadMetadataColumns(SpecContext ctx, YNode node, string path, List<string> names)
    {
        if (ctx.Sequence(node, path, "metadata_columns") is not { } seq) return false;
        var known = KafkaMetadataColumns.All.Select(c => c.Name).ToArray();
        var ok = true;
        for (var i = 0; i < seq.Items.Count; i++)
        {
            var itemPath = SpecContext.Item(path, i);
            if (ctx.String(seq.Items[i], itemPath) is not { } n)
            {
                ok = false;
            }
            else if (KafkaMetadataColumns.Find(n) is null)
            {
                ctx.Error(seq.Items[i], itemPath, $"unknown metadata column '{n}'{Suggestions.Hint(n, known)}");
                ok = false;
            }
            else if (names.Contains(n))
            {
                ctx.Error(seq.Items[i], itemPath, $"metadata column '{n}' is listed twice");
                ok = false;
            }
            else
            {
                names.Add(n);
            }
        }
        return ok;
    }

    /// <summary><c>properties:</c> — librdkafka settings as text (numbers and booleans are taken as written).</summary>
    private static IReadOnlyDictionary<string, string> ReadProperties(SpecContext ctx, MapReader r, Dictionary<string, string> reserved, ref bool ok)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (r.Node("properties") is not { } node) return result;
        var path = r.PathOf("properties");
        if (ctx.Mapping(node, path, "properties (librdkafka key: value)", nullIsEmpty: true) is not { } map)
        {
            ok = false;
            return result;
        }
        var pr = new MapReader(ctx, map, path, null, keyNoun: "property");
        ok &= pr.Entries.Count() == map.Entries.Count;
        foreach (var (key, entry) in pr.Entries)
        {
            var keyPath = pr.PathOf(key);
            if (reserved.TryGetValue(key, out var why))
            {
                ctx.Error(entry.Key, keyPath, $"property '{key}' is set by the connector: {why}");
                ok = false;
            }
            else if (entry.Value is YScalar { Kind: not ScalarKind.Null } s && s.Value.Length > 0)
            {
                result[key] = s.Kind == ScalarKind.Bool ? s.Value.ToLowerInvariant() : s.Value;
            }
            else
            {
                ctx.Error(entry.Value, keyPath, $"a property value is text, a number or true/false, got {SpecContext.Describe(entry.Value)}");
                ok = false;
            }
        }
        return result;
    }

    private static readonly string[] ClickHouseKeys =
    [
        "url", "database", "table", "user", "password", "create_table", "engine", "order_by", "partition_by", "version_column",
        "timestamp_precision", "batch_rows", "batch_bytes", "flush_interval", "compression", "max_retry_time", "request_timeout", "ca",
    ];

    private static ClickHouseSinkSpec? ParseClickHouseSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "clickhouse sink options", nullIsEmpty: true) is not { } map) return null;
        var r = new MapReader(ctx, map, path, ClickHouseKeys);
        var url = r.String("url", required: true);
        if (url != null && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Query.Length > 0))
            ctx.Error(r.Node("url")!, r.PathOf("url"), $"url must be an http:// or https:// URL without a query string, e.g. http://localhost:8123 (got '{url}')");
        var table = r.String("table", required: true);
        var database = r.String("database");
        var user = r.String("user");
        var password = r.String("password", allowEmpty: true);
        var createTable = r.Bool("create_table");
        var engine = r.Enum("engine", SpecNames.ClickHouseEngines, "ClickHouse table engine");
        IReadOnlyList<string>? orderBy = null;
        if (r.Node("order_by") is { } on && ctx.Sequence(on, r.PathOf("order_by"), "order_by") is { } seq)
        {
            var cols = new List<string>();
            for (var i = 0; i < seq.Items.Count; i++)
                if (ctx.String(seq.Items[i], SpecContext.Item(r.PathOf("order_by"), i)) is { } c) cols.Add(c);
            orderBy = cols;
        }
        var partitionBy = r.String("partition_by");
        var versionColumn = r.String("version_column");
        var precision = r.Enum("timestamp_precision", SpecNames.ClickHouseTimestamps, "timestamp precision");
        var batchRows = r.Int32("batch_rows", min: 1);
        var batchBytes = r.Int32("batch_bytes", min: 65536);
        var flushInterval = r.Duration("flush_interval", allowZero: false);
        var compression = r.Enum("compression", SpecNames.ClickHouseCompressions, "compression");
        var maxRetry = r.Duration("max_retry_time", allowZero: true);
        var requestTimeout = r.Duration("request_timeout", allowZero: false);
        var ca = r.String("ca");
        if (ca is not null && url is not null && !url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            ctx.Error(r.Entry("ca")!.Value.Key, r.PathOf("ca"), "ca applies to an https:// url");
        if (createTable != true)
        {
            foreach (var k in new[] { "engine", "order_by", "partition_by", "version_column", "timestamp_precision" })
                if (r.Entry(k) is { } e) ctx.Error(e.Key, r.PathOf(k), $"{k} applies only with create_table: true");
        }
        if (versionColumn != null && engine != ClickHouseEngineSpec.ReplacingMergeTree && r.Entry("version_column") is { } ve)
            ctx.Error(ve.Key, r.PathOf("version_column"), "version_column applies only with engine: replacing_merge_tree");
        if (engine == ClickHouseEngineSpec.ReplacingMergeTree && (orderBy == null || orderBy.Count == 0) && r.Entry("engine") is { } ee)
            ctx.Error(ee.Key, r.PathOf("engine"), "engine: replacing_merge_tree needs order_by (the key whose rows are replaced)");
        return url is not null && table is not null
            ? new ClickHouseSinkSpec(url, table, database, user, password, createTable, engine, orderBy, partitionBy, versionColumn, precision,
                batchRows, batchBytes, flushInterval, compression, maxRetry, requestTimeout) { CaFile = ca }
            : null;
    }

    private static readonly System.Text.RegularExpressions.Regex SqlName = new("^[A-Za-z_][A-Za-z0-9_]{0,62}$");

    private static PostgresCdcSourceSpec? ParsePostgresCdc(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "postgres_cdc options") is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["connection", "include", "exclude", "slot", "publication", "snapshot",
            "snapshot_parallelism", "snapshot_chunk_rows", "on_schema_change", "heartbeat_interval", "batch_size", "on_slot_lost"]);
        var connection = r.String("connection", required: true);
        var include = StringList(ctx, r, "include");
        var exclude = StringList(ctx, r, "exclude");
        var slot = SqlIdentifier(ctx, r, "slot");
        var publication = SqlIdentifier(ctx, r, "publication");
        var snapshot = r.Enum("snapshot", SpecNames.SnapshotModes, "snapshot mode");
        var parallelism = r.Int32("snapshot_parallelism", min: 1, max: 64);
        var chunk = r.Int64("snapshot_chunk_rows", min: 1);
        var onChange = r.Enum("on_schema_change", SpecNames.SchemaChangeModes, "schema change mode");
        var heartbeat = r.Duration("heartbeat_interval", allowZero: true);
        var batchSize = r.Int32("batch_size", min: 1, max: MaxBatchSize);
        var onSlotLost = r.Enum("on_slot_lost", SlotLossNames, "slot loss policy");
        if (onSlotLost == SlotLoss.Resnapshot && snapshot == SnapshotMode.Never && r.Entry("on_slot_lost") is { } sle)
            ctx.Error(sle.Key, r.PathOf("on_slot_lost"), "on_slot_lost: resnapshot needs snapshot: initial (a new slot needs a new snapshot)");
        if (connection is null || include is null || exclude is null) return null;
        return new PostgresCdcSourceSpec(connection, include, exclude, slot, publication, snapshot, parallelism, chunk, onChange, heartbeat, batchSize)
        {
            ResnapshotOnSlotLoss = onSlotLost == SlotLoss.Resnapshot,
        };
    }

    internal enum SlotLoss { Fail, Resnapshot }

    private static readonly IReadOnlyList<KeyValuePair<string, SlotLoss>> SlotLossNames = [new("fail", SlotLoss.Fail), new("resnapshot", SlotLoss.Resnapshot)];

    private static PostgresSinkSpec? ParsePostgresSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "postgres sink options") is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["connection", "schema", "table_prefix", "create_tables", "truncate_on_snapshot"]);
        var connection = r.String("connection", required: true);
        var schema = SqlIdentifier(ctx, r, "schema");
        string? prefix = null;
        if (r.Node("table_prefix") is { } pn && ctx.String(pn, r.PathOf("table_prefix"), allowEmpty: true) is { } p)
        {
            if (p.Length > 0 && !SqlName.IsMatch(p)) ctx.Error(pn, r.PathOf("table_prefix"), $"'{p}' is not a plain SQL name prefix (letters, digits, _)");
            else prefix = p;
        }
        var create = r.Bool("create_tables");
        var truncate = r.Bool("truncate_on_snapshot");
        return connection is null ? null : new PostgresSinkSpec(connection, schema, prefix, create, truncate);
    }

    private static ClickHouseCdcSinkSpec? ParseClickHouseCdcSink(SpecContext ctx, YNode node, string path)
    {
        if (ctx.Mapping(node, path, "clickhouse_cdc sink options") is not { } map) return null;
        var r = new MapReader(ctx, map, path, ["url", "database", "user", "password", "table_prefix", "tables", "create_tables",
            "batch_rows", "batch_bytes", "flush_interval", "max_retry_time", "request_timeout"]);
        var url = r.String("url", required: true);
        if (url != null && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Query.Length > 0))
            ctx.Error(r.Node("url")!, r.PathOf("url"), $"url must be an http:// or https:// URL without a query string, e.g. http://localhost:8123 (got '{url}')");
        var database = r.String("database");
        var user = r.String("user");
        var password = r.String("password", allowEmpty: true);
        string? prefix = null;
        if (r.Node("table_prefix") is { } pn && ctx.String(pn, r.PathOf("table_prefix"), allowEmpty: true) is { } p)
        {
            if (p.Length > 0 && !SqlName.IsMatch(p)) ctx.Error(pn, r.PathOf("table_prefix"), $"'{p}' is not a plain SQL name prefix (letters, digits, _)");
            else prefix = p;
        }
        Dictionary<string, string>? tables = null;
        if (r.Node("tables") is { } tn && ctx.Mapping(tn, r.PathOf("tables"), "tables (source_schema.table: clickhouse_table)") is { } tm)
        {
            tables = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var e in tm.Entries)
            {
                if (ctx.String(e.Key, r.PathOf("tables")) is not { } from) continue;
                var itemPath = r.PathOf("tables") + "." + from;
                if (!from.Contains('.', StringComparison.Ordinal)) ctx.Error(e.Key, itemPath, $"'{from}' must name a source table as schema.table (e.g. public.{from})");
                if (ctx.String(e.Value, itemPath) is { } to) tables[from] = to;
            }
        }
        var create = r.Bool("create_tables");
        var batchRows = r.Int32("batch_rows", min: 1);
        var batchBytes = r.Int32("batch_bytes", min: 65536);
        var flushInterval = r.Duration("flush_interval", allowZero: false);
        var maxRetry = r.Duration("max_retry_time", allowZero: true);
        var requestTimeout = r.Duration("request_timeout", allowZero: false);
        return url is null ? null : new ClickHouseCdcSinkSpec(url, database, user, password, prefix, tables, create, batchRows, batchBytes, flushInterval, maxRetry, requestTimeout);
    }

    /// <summary>A string or a list of strings; an empty list when the key is absent; null after an error.</summary>
    private static IReadOnlyList<string>? StringList(SpecContext ctx, MapReader r, string key)
    {
        if (r.Node(key) is not { } n) return [];
        if (n is YScalar) return ctx.String(n, r.PathOf(key)) is { } one ? [one] : null;
        if (ctx.Sequence(n, r.PathOf(key), key) is not { } seq) return null;
        var list = new List<string>();
        var ok = true;
        for (var i = 0; i < seq.Items.Count; i++)
        {
            if (ctx.String(seq.Items[i], SpecContext.Item(r.PathOf(key), i)) is { } s) list.Add(s);
            else ok = false;
        }
        return ok ? list : null;
    }

    private static string? SqlIdentifier(SpecContext ctx, MapReader r, string key)
    {
        if (r.Node(key) is not { } n || ctx.String(n, r.PathOf(key)) is not { } s) return null;
        if (SqlName.IsMatch(s)) return s;
        ctx.Error(n, r.PathOf(key), $"'{s}' is not a plain SQL name (a letter or _, then letters, digits or _, at most 63)");
        return null;
    }

    /// <summary>The declared <c>format</c>, else the one the path's extension implies (an error when neither).</summary>
    private static FileFormat? ResolveFormat(SpecContext ctx, MapReader r, string? filePath)
    {
        if (r.Has("format")) return r.Enum("format", SpecNames.FileFormats, "file format");
        if (filePath is null) return null;
        if (SpecNames.FormatFromPath(filePath) is { } implied) return implied;
        ctx.Error(r.Node("path")!, r.PathOf("path"),
            $"cannot tell the file format from '{filePath}'; add format: {string.Join(" | ", SpecNames.FileFormats.Select(f => f.Key))}");
        return null;
    }
}
