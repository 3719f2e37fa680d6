using System.Globalization;
using System.Text;
using AiEtl.TestSupport;
using Confluent.Kafka;
using Npgsql;

namespace AiEtl.Integration.Tests;

[Collection("postgres")]
public sealed class PostgresFixtureTests(PostgresFixture fx)
{
    [Fact]
    public async Task Table_round_trip_returns_what_was_written()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var conn = new NpgsqlConnection(fx.Server.ConnectionString);
        await conn.OpenAsync(ct);
        await using (var cmd = new NpgsqlCommand("CREATE TABLE smoke_rt (id bigint PRIMARY KEY, name text, amount numeric(12,2), ts timestamptz)", conn))
            await cmd.ExecuteNonQueryAsync(ct);
        await using (var cmd = new NpgsqlCommand("INSERT INTO smoke_rt SELECT g, 'name-' || g, g * 1.25, '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 second' FROM generate_series(1, 1000) g", conn))
            Assert.Equal(1000, await cmd.ExecuteNonQueryAsync(ct));
        await using (var cmd = new NpgsqlCommand("SELECT count(*), sum(amount), max(name) FROM smoke_rt", conn))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            Assert.True(await r.ReadAsync(ct));
            Assert.Equal(1000L, r.GetInt64(0));
            Assert.Equal(625625.00m, r.GetDecimal(1));
            Assert.Equal("name-999", r.GetString(2));
        }
        Assert.Equal("logical", await fx.Server.ScalarAsync<string>("SHOW wal_level", ct));
    }

    [Fact]
    public async Task Logical_replication_slot_can_be_created()
    {
        var ct = TestContext.Current.CancellationToken;
        await fx.Server.ExecuteAsync("CREATE TABLE smoke_slot (id int PRIMARY KEY); CREATE PUBLICATION smoke_pub FOR TABLE smoke_slot", ct);
        await using (var rep = new Npgsql.Replication.LogicalReplicationConnection(fx.Server.ConnectionString))
        {
            await rep.Open(ct);
            var slot = await Npgsql.Replication.PgOutputConnectionExtensions.CreatePgOutputReplicationSlot(rep, "smoke_slot", cancellationToken: ct);
            Assert.Equal("smoke_slot", slot.Name);
            Assert.NotNull(slot.ConsistentPoint.ToString());
        }
        Assert.Equal("pgoutput", await fx.Server.ScalarAsync<string>("SELECT plugin FROM pg_replication_slots WHERE slot_name = 'smoke_slot'", ct));
        await fx.Server.ExecuteAsync("SELECT pg_drop_replication_slot('smoke_slot')", ct);
    }
}

[Collection("clickhouse")]
public sealed class ClickHouseFixtureTests(ClickHouseFixture fx)
{
    [Fact]
    public async Task MergeTree_table_holds_100k_rows_inserted_over_http()
    {
        var ct = TestContext.Current.CancellationToken;
        var ch = fx.Server;
        await ch.QueryAsync("CREATE TABLE smoke_mt (id UInt64, name String, amount Float64, d Date) ENGINE = MergeTree() PARTITION BY toYYYYMM(d) ORDER BY id", ct);
        var sb = new StringBuilder(4_000_000);
        for (var i = 0; i < 100_000; i++)
            sb.Append(CultureInfo.InvariantCulture, $"{i}\tname-{i}\t{i * 0.5}\t2026-01-{1 + (i % 28):00}\n");
        using var body = new StringContent(sb.ToString(), Encoding.UTF8);
        await ch.InsertAsync("smoke_mt", "TabSeparated", body, ct);
        Assert.Equal(100_000, await ch.CountAsync("SELECT count() FROM smoke_mt", ct));
        Assert.Equal(4_999_950_000L, await ch.CountAsync("SELECT sum(id) FROM smoke_mt", ct));
        Assert.Equal(28, await ch.CountAsync("SELECT uniqExact(d) FROM smoke_mt", ct));
        Assert.False(string.IsNullOrWhiteSpace(ch.Version));
    }
}

[Collection("kafka")]
public sealed class KafkaFixtureTests(KafkaFixture fx)
{
    [Fact]
    public async Task Messages_flow_through_a_consumer_group_and_offsets_commit()
    {
        var ct = TestContext.Current.CancellationToken;
        const string topic = "smoke-10k";
        const int partitions = 4, count = 10_000;
        fx.Cluster.CreateTopic(topic, partitions);
        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig
               { BootstrapServers = fx.Cluster.BootstrapServers, LingerMs = 5, EnableIdempotence = true }).Build())
        {
            for (var i = 0; i < count; i++)
                producer.Produce(topic, new Message<string, string> { Key = $"k{i}", Value = $"{{\"id\":{i}}}" });
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        var config = new ConsumerConfig
        {
            BootstrapServers = fx.Cluster.BootstrapServers,
            GroupId = "smoke-group",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            SessionTimeoutMs = 6000,
        };
        var seen = new HashSet<string>();
        using (var consumer = new ConsumerBuilder<string, string>(config).Build())
        {
            consumer.Subscribe(topic);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (seen.Count < count && DateTime.UtcNow < deadline)
            {
                var cr = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (cr?.Message == null) continue;
                seen.Add(cr.Message.Key);
            }
            Assert.Equal(count, seen.Count);
            consumer.Commit();
            consumer.Close();
        }

        // A second client instance reads the committed offsets back: together they cover every message.
        using var reader = new ConsumerBuilder<string, string>(config).Build();
        var committed = reader.Committed(Enumerable.Range(0, partitions).Select(p => new TopicPartition(topic, p)), TimeSpan.FromSeconds(10));
        Assert.Equal(partitions, committed.Count);
        Assert.Equal(count, committed.Sum(c => c.Offset.Value));
        await Task.CompletedTask;
    }
}
