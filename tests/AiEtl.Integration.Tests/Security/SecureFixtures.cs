using AiEtl.TestSupport;

namespace AiEtl.Integration.Tests.Security;

/// <summary>A ClickHouse server with an HTTPS port (certificate from a CA generated here) and a user with a password.</summary>
public sealed class SecureClickHouseFixture : IAsyncLifetime
{
    public const string User = "loader";
    public const string Password = "ch-pw-Quokka-7731";

    public ClickHouseServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Server = await ClickHouseServer.StartAsync(new ClickHouseServerOptions
    {
        Https = true,
        PasswordUsers = new Dictionary<string, string> { [User] = Password },
    }, TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Server != null) await Server.DisposeAsync();
    }
}

/// <summary>A PostgreSQL server with TLS on (certificate from a CA generated here) and a SCRAM password user that must use TLS.</summary>
public sealed class SecurePostgresFixture : IAsyncLifetime
{
    public const string User = "cdc_user";
    public const string Password = "pg-pw-Wombat-5519";

    public PostgresServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Server = await PostgresServer.StartAsync(new PostgresServerOptions
    {
        Tls = true,
        PasswordUsers = new Dictionary<string, string> { [User] = Password },
    }, TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Server != null) await Server.DisposeAsync();
    }
}
