using System.Text;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Spec;
using AiEtl.TestSupport;
using Confluent.Kafka;
using static AiEtl.Integration.Tests.Kafka.KafkaTestSupport;

namespace AiEtl.Integration.Tests.Kafka;

/// <summary>
/// <c>start: timestamp</c> and out-of-range committed offsets against the mock broker, and the <c>security:</c> block
/// reaching librdkafka. The mock broker speaks neither SASL nor TLS, so the secure settings are checked where
/// librdkafka consumes them: the client configuration and the creation of a real client, which loads the CA,
/// certificate and (encrypted) key files.
/// </summary>
[Collection("kafka")]
public sealed class KafkaStartAndSecurityTests(KafkaFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private string Brokers => fx.Cluster.BootstrapServers;

    private string NewTopic(string name, int partitions)
    {
        var topic = $"{name}-{Guid.NewGuid().ToString("N")[..12]}";
        fx.Cluster.CreateTopic(topic, partitions);
        return topic;
    }

    [Fact]
    public async Task Start_timestamp_begins_at_the_broker_answer_for_the_time_and_reads_only_newer_messages_where_none_is()
    {
        var topic = NewTopic("start-ts", 2);
        var t0 = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
        // Partition 0: ids 0..9 one minute apart from t0. Partition 1: ids 100..104, all before the start time.
        Produce(Brokers, topic, Enumerable.Range(0, 10).Select(i => (0, Order(i))),
            (i, m) => { m.Timestamp = new Timestamp(t0.AddMinutes(i)); return m; });
        Produce(Brokers, topic, Enumerable.Range(100, 5).Select(i => (1, Order(i))),
            (i, m) => { m.Timestamp = new Timestamp(t0.AddHours(-1).AddMinutes(i)); return m; });
        var start = t0.AddMinutes(6).AddSeconds(-30);

        // What the broker answers to ListOffsets by time. A real broker: offset 6 for partition 0. librdkafka's mock
        // broker has no time index and answers "none" (-1) for every timestamp lookup.
        long brokerAnswer;
        using (var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Brokers, GroupId = "probe" }).Build())
        {
            brokerAnswer = probe.OffsetsForTimes([new TopicPartitionTimestamp(new TopicPartition(topic, 0), new Timestamp(start))], TimeSpan.FromSeconds(10))[0].Offset.Value;
        }

        var options = Options(Brokers, topic, "g-start-ts") with { Start = KafkaStart.Timestamp, StartTimestamp = start };
        await using var reader = new KafkaSource(options).CreateReader(Context(new ListDeadLetters()));
        if (brokerAnswer >= 0)
        {
            Assert.Equal(6, brokerAnswer);
            var rows = await ReadRowsAsync(reader, 4);
            Assert.Equal([6L, 7, 8, 9], rows.Select(r => long.Parse(r.Split('|')[0], System.Globalization.CultureInfo.InvariantCulture)).Order());
        }
        else
        {
            // Nothing at or after the time (as far as the broker says): every partition starts at its end.
            var none = await ReadRowsAsync(reader, 1, TimeSpan.FromSeconds(3));
            Assert.Empty(none);
        }

        // Messages produced after the start are read, and nothing older comes with them.
        Produce(Brokers, topic, [(1, Order(200)), (0, Order(201))], (_, m) => { m.Timestamp = new Timestamp(t0.AddDays(1)); return m; });
        var more = await ReadRowsAsync(reader, 2);
        Assert.Equal(["200", "201"], more.Select(r => r.Split('|')[0]).Order());
        Assert.Empty(await ReadRowsAsync(reader, 1, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void Start_timestamp_without_a_time_is_rejected_by_the_source_options()
    {
        var e = Assert.Throws<AiEtl.Engine.Connectors.ConnectorConfigException>(() =>
            new KafkaSource(Options(Brokers, "t", "g") with { Start = KafkaStart.Timestamp }));
        Assert.Contains("start_timestamp", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_committed_offset_deleted_by_retention_fails_naming_the_lost_range_unless_reset_is_allowed(bool reset)
    {
        // The mock broker keeps ~5 MiB per partition and drops older data, like retention would.
        var topic = NewTopic("oor-committed", 1);
        var group = "g-oor-committed-" + reset;
        var pad = new string('x', 20_000);
        Produce(Brokers, topic, Enumerable.Range(0, 600).Select(i => (0, Encoding.UTF8.GetBytes($"{{\"id\":{i},\"pad\":\"{pad}\"}}"))));
        WatermarkOffsets wm;
        using (var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Brokers, GroupId = group }).Build())
        {
            wm = c.QueryWatermarkOffsets(new TopicPartition(topic, 0), TimeSpan.FromSeconds(10));
            // The group had read up to offset 3 long ago: its committed offset is below the log start now.
            c.Commit([new TopicPartitionOffset(topic, 0, 3)]);
        }
        Assert.True(wm.Low.Value > 3, $"the mock kept everything (low watermark {wm.Low.Value}); produce more");

        var options = Options(Brokers, topic, group) with { Start = KafkaStart.Committed, ResetOnOffsetOutOfRange = reset };
        await using var reader = new KafkaSource(options).CreateReader(Context(new ListDeadLetters()));
        if (!reset)
        {
            var e = await Assert.ThrowsAsync<KafkaSourceException>(async () => await reader.ReadNextBatchAsync(Ct));
            Assert.Contains($"{topic} partition 0", e.Message, StringComparison.Ordinal);
            Assert.Contains("committed offset", e.Message, StringComparison.Ordinal);
            Assert.Contains($"offsets 3..{wm.Low.Value - 1} ({wm.Low.Value - 3} messages) were deleted", e.Message, StringComparison.Ordinal);
        }
        else
        {
            var rows = await ReadRowsAsync(reader, (int)(wm.High.Value - wm.Low.Value));
            Assert.Equal(wm.Low.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), rows[0].Split('|')[0]);
        }
    }

    private static PipelineSpec Load(string yaml)
    {
        var loaded = PipelineSpecLoader.LoadFromString(yaml, "kafka-security.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
        return loaded.Spec!;
    }

    [Fact]
    public void Security_settings_reach_the_librdkafka_configuration_of_source_sink_and_dead_letters_and_load_in_a_real_client()
    {
        var dir = ServerProcess.CreateTempDir("kafka-tls");
        try
        {
            using var ca = TestCertificates.Create(dir);
            const string keyPassword = "key-pw-Dingo-8841";
            var (cert, key) = ca.IssueClient("client", "aietl-client", keyPassword);
            string Security(string mechanism) =>
                "    security:\n" +
                $"      sasl: {{ mechanism: {mechanism}, username: etl, password: \"sasl-pw-Possum-1207\" }}\n" +
                $"      tls: {{ ca: \"{ca.CaFile}\", cert: \"{cert}\", key: \"{key}\", key_password: \"{keyPassword}\" }}";
            var spec = Load($$"""
                name: sec
                source:
                  kafka:
                    brokers: "{{Brokers}}"
                    topic: t
                {{Security("SCRAM-SHA-512")}}
                  schema: { id: int64 }
                sink:
                  kafka:
                    brokers: "{{Brokers}}"
                    topic: out
                {{Security("SCRAM-SHA-256")}}
                dead_letter:
                  kafka:
                    brokers: "{{Brokers}}"
                    topic: dlq
                {{Security("PLAIN")}}
                """);
            Assert.True(spec.Secrets.Contains("sasl-pw-Possum-1207"));
            Assert.True(spec.Secrets.Contains(keyPassword));

            var k = (KafkaSourceSpec)spec.Sources[0].Connector;
            var source = KafkaConnectors.SourceOptions(k, spec.Sources[0], spec);
            var consumer = KafkaConfig.Consumer(source, "c", multiTopic: false);
            var c = consumer.ToDictionary(p => p.Key, p => p.Value);
            Assert.Equal("sasl_ssl", c["security.protocol"]);
            Assert.Equal("SCRAM-SHA-512", c["sasl.mechanisms"]);
            Assert.Equal("etl", c["sasl.username"]);
            Assert.Equal("sasl-pw-Possum-1207", c["sasl.password"]);
            Assert.Equal(ca.CaFile, c["ssl.ca.location"]);
            Assert.Equal(cert, c["ssl.certificate.location"]);
            Assert.Equal(key, c["ssl.key.location"]);
            Assert.Equal(keyPassword, c["ssl.key.password"]);
            // The metadata client gets the connection-level settings too.
            var admin = KafkaConfig.Admin(source.Brokers, source.Properties).ToDictionary(p => p.Key, p => p.Value);
            Assert.Equal("SCRAM-SHA-512", admin["sasl.mechanisms"]);
            Assert.Equal(key, admin["ssl.key.location"]);

            var sinkSpec = (KafkaSinkSpec)spec.Sinks[0].Connector;
            var producer = KafkaConfig.Producer(sinkSpec.Brokers, "p", KafkaConfig.Merge(sinkSpec.Properties, sinkSpec.Security)).ToDictionary(p => p.Key, p => p.Value);
            Assert.Equal("SCRAM-SHA-256", producer["sasl.mechanisms"]);
            Assert.Equal(cert, producer["ssl.certificate.location"]);
            var dl = (KafkaDeadLetterSpec)spec.DeadLetter!.Target!;
            Assert.Equal("PLAIN", KafkaConfig.Merge(dl.Properties, dl.Security)["sasl.mechanisms"]);

            // librdkafka itself accepts the configuration: creating a client sets up TLS, reading the CA, the
            // certificate and the key with its password.
            using (var client = new ConsumerBuilder<Ignore, Ignore>(consumer).Build())
            {
                Assert.NotNull(client.Name);
            }
            // … and a wrong key password makes it fail there, which shows the files and password are really used.
            var wrong = new ConsumerConfig(consumer.ToDictionary(p => p.Key, p => p.Value)) { SslKeyPassword = "not-the-key-password" };
            var e = Assert.ThrowsAny<Exception>(() => new ConsumerBuilder<Ignore, Ignore>(wrong).Build().Dispose());
            Assert.Matches("(?i)ssl|key", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_missing_tls_file_is_a_configuration_error_naming_it()
    {
        var spec = Load($$"""
            name: sec
            source:
              kafka:
                brokers: "{{Brokers}}"
                topic: t
                security: { tls: { ca: /nonexistent/ca.pem } }
              schema: { id: int64 }
            sink: { null: }
            """);
        var k = (KafkaSourceSpec)spec.Sources[0].Connector;
        var e = Assert.Throws<AiEtl.Engine.Connectors.ConnectorConfigException>(() => new KafkaSource(KafkaConnectors.SourceOptions(k, spec.Sources[0], spec)));
        Assert.Contains("/nonexistent/ca.pem", e.Message, StringComparison.Ordinal);
        Assert.Contains("CA file", e.Message, StringComparison.Ordinal);
    }
}
