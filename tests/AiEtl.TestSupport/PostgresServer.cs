using System.Diagnostics;
using Npgsql;

namespace AiEtl.TestSupport;

/// <summary>Options of <see cref="PostgresServer"/>: TLS and password users (the <c>postgres</c> superuser stays trusted).</summary>
public sealed record PostgresServerOptions
{
    /// <summary>
    /// Turn on TLS (<c>ssl=on</c>) with a server certificate for 127.0.0.1/localhost issued by a CA generated for the
    /// server (<see cref="PostgresServer.Certificates"/>); password users may then connect only over TLS.
    /// </summary>
    public bool Tls { get; init; }

    /// <summary>
    /// Roles created with <c>LOGIN REPLICATION CREATEDB</c> and a password, authenticated with SCRAM-SHA-256
    /// (<c>pg_hba.conf</c>), for ordinary and replication connections.
    /// </summary>
    public IReadOnlyDictionary<string, string> PasswordUsers { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// A real PostgreSQL server (Debian's postgresql package) started as a child process on a free loopback port,
/// in a temp dir, with <c>wal_level=logical</c>. Runs as the <c>postgres</c> user when the caller is root
/// (initdb refuses root). Stopped by PID on dispose.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private Process? _process;
    private readonly string _dir;

    public int Port { get; }
    public string DataDir => Path.Combine(_dir, "data");
    public string SocketDir => Path.Combine(_dir, "sock");
    public string BinDir { get; }
    public TimeSpan StartupTime { get; private set; }

    /// <summary>Connection string for the <c>postgres</c> superuser over TCP loopback.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=true;Include Error Detail=true";

    public string ConnectionStringFor(string database) =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Pooling=true;Include Error Detail=true";

    public int Pid => _process?.Id ?? 0;

    /// <summary>The CA that issued the server certificate (with <see cref="PostgresServerOptions.Tls"/>), else null.</summary>
    public TestCertificates? Certificates { get; private set; }

    /// <summary>
    /// A connection string for a password user over TLS with full verification (the generated CA as the root).
    /// </summary>
    public string SecureConnectionString(string user, string password, string database = "postgres") =>
        $"Host=127.0.0.1;Port={Port};Username={user};Password={password};Database={database};SSL Mode=VerifyFull;Root Certificate={Certificates?.CaFile};Include Error Detail=true";

    private PostgresServer(string binDir, string dir, int port)
    {
        BinDir = binDir;
        _dir = dir;
        Port = port;
    }

    /// <summary>Finds the newest installed PostgreSQL server's bin directory, or throws naming the package.</summary>
    public static string FindBinDir()
    {
        const string root = "/usr/lib/postgresql";
        if (Directory.Exists(root))
        {
            var best = Directory.GetDirectories(root)
                .Select(d => (dir: d, ok: int.TryParse(Path.GetFileName(d), out var v), v))
                .Where(x => x.ok && File.Exists(Path.Combine(x.dir, "bin", "postgres")) && File.Exists(Path.Combine(x.dir, "bin", "initdb")))
                .OrderByDescending(x => x.v)
                .FirstOrDefault();
            if (best.dir != null) return Path.Combine(best.dir, "bin");
        }
        var initdb = ServerProcess.RequireBinary("postgresql", "initdb");
        return Path.GetDirectoryName(initdb)!;
    }

    public static Task<PostgresServer> StartAsync(CancellationToken ct = default) => StartAsync(new PostgresServerOptions(), ct);

    public static async Task<PostgresServer> StartAsync(PostgresServerOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var sw = Stopwatch.StartNew();
        var bin = FindBinDir();
        var dir = ServerProcess.CreateTempDir("pg");
        var server = new PostgresServer(bin, dir, ServerProcess.FreePort());
        Directory.CreateDirectory(server.SocketDir);
        var asRoot = ServerProcess.IsRoot;
        if (asRoot)
        {
            // initdb and postgres refuse to run as root: hand the directory to the postgres user.
            ServerProcess.Run("chown", ["-R", "postgres:postgres", dir]);
            ServerProcess.Run("chmod", ["755", dir]);
        }
        server.Exec(asRoot, Path.Combine(bin, "initdb"),
            ["-D", server.DataDir, "--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C", "--no-sync"]);
        var tlsArgs = new List<string>();
        if (options.Tls)
        {
            server.Certificates = TestCertificates.Create(Path.Combine(dir, "tls"));
            var (cert, key) = server.Certificates.IssueServer("server");
            tlsArgs.AddRange(["-c", "ssl=on", "-c", $"ssl_cert_file={cert}", "-c", $"ssl_key_file={key}"]);
        }
        if (options.PasswordUsers.Count > 0 || options.Tls)
        {
            // Password users authenticate with SCRAM (over TLS only, when TLS is on); postgres stays trusted for the fixture.
            var hba = new System.Text.StringBuilder("local all all trust\n");
            foreach (var user in options.PasswordUsers.Keys)
            {
                if (options.Tls)
                {
                    hba.Append($"hostnossl all {user} 127.0.0.1/32 reject\nhostnossl replication {user} 127.0.0.1/32 reject\n");
                }
                hba.Append($"host all {user} 127.0.0.1/32 scram-sha-256\nhost replication {user} 127.0.0.1/32 scram-sha-256\n");
            }
            hba.Append("host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n");
            File.WriteAllText(Path.Combine(server.DataDir, "pg_hba.conf"), hba.ToString());
        }
        if (asRoot && (options.Tls || options.PasswordUsers.Count > 0)) ServerProcess.Run("chown", ["-R", "postgres:postgres", dir]);
        var args = new List<string>
        {
            "-D", server.DataDir, "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-c", "listen_addresses=127.0.0.1", "-c", $"unix_socket_directories={server.SocketDir}",
            "-c", "wal_level=logical", "-c", "max_wal_senders=20", "-c", "max_replication_slots=20",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200", "-c", "shared_buffers=128MB", "-c", "password_encryption=scram-sha-256",
        };
        args.AddRange(tlsArgs);
        var log = Path.Combine(dir, "postgres.log");
        server._process = asRoot
            ? ServerProcess.StartBackground("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", Path.Combine(bin, "postgres"), .. args], log)
            : ServerProcess.StartBackground(Path.Combine(bin, "postgres"), args, log);
        await ServerProcess.WaitUntilAsync(async () =>
        {
            if (server._process.HasExited) throw new InvalidOperationException($"postgres exited with {server._process.ExitCode}: {ServerProcess.TailOf(log)}");
            await using var conn = new NpgsqlConnection(server.ConnectionString + ";Pooling=false;Timeout=2");
            try
            {
                await conn.OpenAsync(ct).ConfigureAwait(false);
            }
            catch (NpgsqlException) when (!ct.IsCancellationRequested)
            {
                return false; // not listening yet (Npgsql wraps the refused connection)
            }
            return true;
        }, TimeSpan.FromSeconds(60), () => ServerProcess.TailOf(log)).ConfigureAwait(false);
        foreach (var (user, password) in options.PasswordUsers)
        {
            await server.ExecuteAsync($"CREATE ROLE \"{user}\" LOGIN REPLICATION CREATEDB PASSWORD '{password.Replace("'", "''", StringComparison.Ordinal)}'", ct).ConfigureAwait(false);
        }
        server.StartupTime = sw.Elapsed;
        ServerProcess.Log($"PostgreSQL ({bin}) ready on 127.0.0.1:{server.Port} pid {server.Pid} in {sw.ElapsedMilliseconds} ms (dir {dir})");
        return server;
    }

    private void Exec(bool asRoot, string file, string[] args)
    {
        if (asRoot) ServerProcess.Run("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", file, .. args], TimeSpan.FromSeconds(120));
        else ServerProcess.Run(file, args, TimeSpan.FromSeconds(120));
    }

    /// <summary>Runs a SQL command on the <c>postgres</c> database.</summary>
    public async Task ExecuteAsync(string sql, CancellationToken ct = default)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public async Task<T?> ScalarAsync<T>(string sql, CancellationToken ct = default)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(sql, conn);
        var v = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
        return v is null or DBNull ? default : (T)Convert.ChangeType(v, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    public ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        // SIGINT = PostgreSQL's fast shutdown.
        ServerProcess.Stop(_process, ServerProcess.SIGINT, TimeSpan.FromSeconds(10));
        _process?.Dispose();
        Certificates?.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return ValueTask.CompletedTask;
    }
}
