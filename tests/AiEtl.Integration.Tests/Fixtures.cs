using AiEtl.TestSupport;

namespace AiEtl.Integration.Tests;

/// <summary>One PostgreSQL server per test collection.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public PostgresServer Server { get; private set; } = null!;
    public async ValueTask InitializeAsync() => Server = await PostgresServer.StartAsync(TestContext.Current.CancellationToken);
    public async ValueTask DisposeAsync()
    {
        if (Server != null) await Server.DisposeAsync();
    }
}

/// <summary>One ClickHouse server per test collection.</summary>
public sealed class ClickHouseFixture : IAsyncLifetime
{
    public ClickHouseServer Server { get; private set; } = null!;
    public async ValueTask InitializeAsync() => Server = await ClickHouseServer.StartAsync(TestContext.Current.CancellationToken);
    public async ValueTask DisposeAsync()
    {
        if (Server != null) await Server.DisposeAsync();
    }
}

/// <summary>One Kafka-protocol mock cluster per test collection.</summary>
public sealed class KafkaFixture : IDisposable
{
    public KafkaMockCluster Cluster { get; } = KafkaMockCluster.Start(brokers: 3);
    public void Dispose() => Cluster.Dispose();
}

[CollectionDefinition("postgres")]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>;

[CollectionDefinition("clickhouse")]
public sealed class ClickHouseCollection : ICollectionFixture<ClickHouseFixture>;

[CollectionDefinition("kafka")]
public sealed class KafkaCollection : ICollectionFixture<KafkaFixture>;
