using AiEtl.Engine.Planning;
using AiEtl.Engine.Postgres;
using AiEtl.Engine.Spec;
using AiEtl.Integration.Tests.Postgres;
using AiEtl.TestSupport;
using Npgsql;

namespace AiEtl.Integration.Tests.Security;

/// <summary>
/// The CDC source and the PostgreSQL sink against a local server with TLS on (a self-signed CA generated here) and a
/// SCRAM-SHA-256 password user that pg_hba.conf admits only over TLS; the pipeline connects with
/// <c>SSL Mode=VerifyFull</c> and the CA as its root certificate.
/// </summary>
public sealed class PostgresSecureTests(SecurePostgresFixture fx) : IClassFixture<SecurePostgresFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private const string User = SecurePostgresFixture.User;

    private string Secure(string database, string? password = null, string? ca = null) =>
        $"Host=127.0.0.1;Port={fx.Server.Port};Username={User};Password={password ?? SecurePostgresFixture.Password};Database={database};" +
        $"SSL Mode=VerifyFull;Root Certificate={ca ?? fx.Server.Certificates!.CaFile}";

    [Fact]
    public async Task Cdc_source_and_postgres_sink_replicate_over_verify_full_tls_with_scram()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "tlscdc", Ct, owner: User, pipelineConnection: db => Secure(db));
        await CdcHarness.ExecAsync(h.PipelineSource, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g", Ct);
        var run = h.Start(h.Yaml("public.t"));
        await h.WaitEqualAsync("t", Ct, run: run);
        await CdcHarness.ExecAsync(h.PipelineSource, "INSERT INTO t SELECT g, 'w' || g FROM generate_series(501, 800) g; UPDATE t SET v = 'u' WHERE id % 7 = 0; DELETE FROM t WHERE id % 11 = 0", Ct);
        await h.WaitEqualAsync("t", Ct, run: run);

        // Every connection of the pipeline's user — the replication walsender included — is encrypted.
        var (total, plain, walsenders) = await ConnectionsOf(User);
        Assert.True(total >= 2, $"expected the pipeline's connections, saw {total}");
        Assert.Equal(0, plain);
        Assert.True(walsenders >= 1, "the replication connection was not seen");
        await run.StopAsync();
    }

    [Fact]
    public void A_wrong_password_fails_planning_with_a_clear_message_that_does_not_show_it()
    {
        const string wrong = "wrong-pw-Bilby-3301";
        var yaml = $$"""
            name: badpw
            source:
              postgres_cdc: { connection: "{{Secure("postgres", wrong)}}", include: [public.t] }
            sink: { null: }
            """;
        var spec = CdcHarness.Load(yaml);
        Assert.True(spec.Secrets.Contains(wrong), "a connection string's Password is a secret by nature");
        var e = Assert.Throws<PlanException>(() => Planner.Plan(spec, BuiltinConnectors.Create().AddPostgres()));
        Assert.Contains("password authentication failed", e.Message, StringComparison.Ordinal);
        Assert.Contains(User, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, spec.Secrets.Redact(e.ToString()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_server_refuses_the_user_without_tls_and_verify_full_refuses_another_ca()
    {
        await using (var plain = new NpgsqlConnection($"Host=127.0.0.1;Port={fx.Server.Port};Username={User};Password={SecurePostgresFixture.Password};Database=postgres;SSL Mode=Disable"))
        {
            var e = await Assert.ThrowsAsync<PostgresException>(() => plain.OpenAsync(Ct));
            Assert.Equal("28000", e.SqlState); // no pg_hba.conf entry … no encryption
        }
        using var other = TestCertificates.Create(Path.Combine(Path.GetTempPath(), "aietl-otherca-" + Guid.NewGuid().ToString("N")));
        try
        {
            await using var wrongCa = new NpgsqlConnection(Secure("postgres", ca: other.CaFile));
            var e = await Assert.ThrowsAnyAsync<Exception>(() => wrongCa.OpenAsync(Ct));
            Assert.Matches("(?i)certificate|ssl|remote", e.ToString());
        }
        finally
        {
            Directory.Delete(other.Directory, recursive: true);
        }
        // The right CA and password connect, over TLS.
        await using var ok = new NpgsqlConnection(Secure("postgres"));
        await ok.OpenAsync(Ct);
        await using var cmd = new NpgsqlCommand("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", ok);
        Assert.True((bool)(await cmd.ExecuteScalarAsync(Ct))!);
    }

    private async Task<(long Total, long Plain, long Walsenders)> ConnectionsOf(string user)
    {
        await using var conn = new NpgsqlConnection(fx.Server.ConnectionString);
        await conn.OpenAsync(Ct);
        await using var cmd = new NpgsqlCommand(
            "SELECT count(*), count(*) FILTER (WHERE NOT s.ssl), count(*) FILTER (WHERE a.backend_type = 'walsender') " +
            "FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = $1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = user });
        await using var r = await cmd.ExecuteReaderAsync(Ct);
        await r.ReadAsync(Ct);
        return (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
    }
}
