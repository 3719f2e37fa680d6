using System.Globalization;
using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.Integration.Tests.Kafka;
using AiEtl.TestSupport;

namespace AiEtl.Integration.Tests.KafkaClickHouse;

/// <summary>
/// Kafka(avro) → ClickHouse: the two writer versions of <see cref="AvroKafkaPipelineTests"/> (Confluent's AvroSerializer,
/// writer schemas in the registry stand-in — it stands in for Confluent's registry, absent on these machines), columns
/// derived from the registry at plan time, loaded into a created MergeTree table and compared value by value.
/// </summary>
[Collection("kafka-clickhouse")]
public sealed class AvroKafkaClickHouseTests(KafkaFixture kafka, ClickHouseFixture ch)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Avro_messages_of_two_writer_versions_load_into_clickhouse_value_for_value()
    {
        const int partitions = 3, total = 3000;
        var id = Guid.NewGuid().ToString("N")[..10];
        var topic = "avro-ch-" + id;
        var table = "avro_orders_" + id;
        kafka.Cluster.CreateTopic(topic, partitions);
        await using var registry = SchemaRegistryStandIn.Start();
        using (var writer = new AvroWriter(registry.Url))
            KafkaTestSupport.Produce(kafka.Cluster.BootstrapServers, topic, AvroKafkaPipelineTests.Messages(writer, topic, total, partitions));

        var loaded = PipelineSpecLoader.LoadFromString($$"""
            name: avro-to-clickhouse
            source:
              kafka:
                brokers: "{{kafka.Cluster.BootstrapServers}}"
                topic: {{topic}}
                format: avro
                start: earliest
                poll_timeout: 50ms
                schema_registry: { url: "{{registry.Url}}" }
            sink:
              clickhouse: { url: "{{ch.Server.HttpUrl}}", table: {{table}}, create_table: true, order_by: [id], flush_interval: 200ms }
            parallelism: 2
            """, "test.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
        var plan = Planner.Plan(loaded.Spec!, ClickHouseConnectors.Register(KafkaConnectors.Register(BuiltinConnectors.Create())));
        var deadLetters = new ListDeadLetters();
        var metrics = new EngineMetrics("avro-to-clickhouse");
        using var stop = new CancellationTokenSource();
        var run = new JobRunner(plan.Graph, new JobOptions { DeadLetters = deadLetters, Metrics = metrics, CheckpointInterval = TimeSpan.FromMilliseconds(500) })
            .RunAsync(stop.Token, Ct);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (Interlocked.Read(ref metrics.SourceRows) < total && DateTime.UtcNow < deadline && !run.IsCompleted) await Task.Delay(50, Ct);
        await stop.CancelAsync();
        var result = await run;
        Assert.Equal(total, result.SourceRows);
        Assert.Empty(deadLetters.Letters);

        var tsType = (await ch.Server.QueryAsync($"SELECT type FROM system.columns WHERE database = 'default' AND table = '{table}' AND name = 'ts'", Ct)).Trim();
        var lines = (await ch.Server.QueryAsync($"SELECT id, name, amount, ts, status, country, qty FROM {table} ORDER BY id FORMAT TabSeparated", Ct))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(total, lines.Length);
        for (var i = 0; i < total; i++)
        {
            var f = lines[i].Split('\t');
            var e = AvroKafkaPipelineTests.Row(i);
            Assert.Equal(i.ToString(CultureInfo.InvariantCulture), f[0]);
            Assert.Equal(e.Name ?? "\\N", f[1]);
            Assert.Equal(e.Amount, double.Parse(f[2], CultureInfo.InvariantCulture));
            var micros = (e.Ts - DateTime.UnixEpoch).Ticks / 10;
            // Int64 µs on servers without DateTime64 (Debian's 18.16), DateTime64(6) text on newer ones.
            var expectedTs = tsType.Contains("Int64", StringComparison.Ordinal)
                ? micros.ToString(CultureInfo.InvariantCulture)
                : e.Ts.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
            Assert.Equal(expectedTs, f[3]);
            Assert.Equal(e.Status, f[4]);
            Assert.Equal(e.Country, f[5]);
            Assert.Equal(e.Qty.ToString(CultureInfo.InvariantCulture), f[6]);
        }
    }
}
