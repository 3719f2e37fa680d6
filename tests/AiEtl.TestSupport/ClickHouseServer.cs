using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace AiEtl.TestSupport;

/// <summary>Options of <see cref="ClickHouseServer"/>: an HTTPS port and a user with a password.</summary>
public sealed record ClickHouseServerOptions
{
    /// <summary>
    /// Also listen on <see cref="ClickHouseServer.HttpsPort"/> with a certificate for 127.0.0.1/localhost issued by a CA
    /// generated for the server (<see cref="ClickHouseServer.Certificates"/>).
    /// </summary>
    public bool Https { get; init; }

    /// <summary>Users (besides the password-less <c>default</c> the fixture uses) with their passwords.</summary>
    public IReadOnlyDictionary<string, string> PasswordUsers { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// A real ClickHouse server (Debian's clickhouse-server) started as a child process on free loopback ports
/// in a temp dir, with HTTP on <see cref="HttpUrl"/>. Stopped by PID on dispose.
/// </summary>
public sealed class ClickHouseServer : IAsyncDisposable
{
    private Process? _process;
    private readonly string _dir;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromMinutes(5) };

    public int HttpPort { get; }
    /// <summary>The HTTPS port (0 unless started with <see cref="ClickHouseServerOptions.Https"/>).</summary>
    public int HttpsPort { get; private set; }
    public string HttpsUrl => $"https://127.0.0.1:{HttpsPort}";
    /// <summary>The CA that issued the HTTPS certificate, else null.</summary>
    public TestCertificates? Certificates { get; private set; }
    private ClickHouseServerOptions _options = new();
    public int TcpPort { get; }
    public string HttpUrl => $"http://127.0.0.1:{HttpPort}";
    public string Version { get; private set; } = "";
    public TimeSpan StartupTime { get; private set; }
    public int Pid => _process?.Id ?? 0;

    private ClickHouseServer(string dir, int httpPort, int tcpPort)
    {
        _dir = dir;
        HttpPort = httpPort;
        TcpPort = tcpPort;
    }

    public static Task<ClickHouseServer> StartAsync(CancellationToken ct = default) => StartAsync(new ClickHouseServerOptions(), ct);

    public static async Task<ClickHouseServer> StartAsync(ClickHouseServerOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var sw = Stopwatch.StartNew();
        var bin = ServerProcess.RequireBinary("clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server", "clickhouse-server");
        var dir = ServerProcess.CreateTempDir("ch");
        var server = new ClickHouseServer(dir, ServerProcess.FreePort(), ServerProcess.FreePort()) { _options = options };
        if (options.Https)
        {
            server.HttpsPort = ServerProcess.FreePort();
            server.Certificates = TestCertificates.Create(Path.Combine(dir, "tls"));
        }
        server.WriteConfig();
        var log = Path.Combine(dir, "stdout.log");
        server._process = ServerProcess.StartBackground(bin, [$"--config-file={Path.Combine(dir, "config.xml")}"], log);
        await ServerProcess.WaitUntilAsync(async () =>
        {
            if (server._process.HasExited)
                throw new InvalidOperationException($"clickhouse-server exited with {server._process.ExitCode}: {ServerProcess.TailOf(Path.Combine(dir, "error.log"))}{ServerProcess.TailOf(log)}");
            using var resp = await server._http.GetAsync($"{server.HttpUrl}/ping", ct).ConfigureAwait(false);
            return resp.IsSuccessStatusCode;
        }, TimeSpan.FromSeconds(60), () => ServerProcess.TailOf(Path.Combine(dir, "error.log"))).ConfigureAwait(false);
        server.Version = (await server.QueryAsync("SELECT version()", ct).ConfigureAwait(false)).Trim();
        server.StartupTime = sw.Elapsed;
        ServerProcess.Log($"ClickHouse {server.Version} ready on {server.HttpUrl} pid {server.Pid} in {sw.ElapsedMilliseconds} ms (dir {dir})");
        return server;
    }

    private void WriteConfig()
    {
        string P(string name) => Path.Combine(_dir, name) + "/";
        var https = "";
        if (Certificates is not null)
        {
            var (cert, key) = Certificates.IssueServer("server");
            https = $"""
                  <https_port>{HttpsPort}</https_port>
                  <openSSL>
                    <server>
                      <certificateFile>{cert}</certificateFile>
                      <privateKeyFile>{key}</privateKeyFile>
                      <verificationMode>none</verificationMode>
                      <loadDefaultCAFile>false</loadDefaultCAFile>
                      <cacheSessions>true</cacheSessions>
                      <disableProtocols>sslv2,sslv3</disableProtocols>
                      <preferServerCiphers>true</preferServerCiphers>
                    </server>
                  </openSSL>
                """;
        }
        var extraUsers = string.Concat(_options.PasswordUsers.Select(u =>
            $"<{u.Key}><password>{System.Security.SecurityElement.Escape(u.Value)}</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></{u.Key}>"));
        var config = $"""
            <?xml version="1.0"?>
            <yandex>
              <logger><level>warning</level><log>{Path.Combine(_dir, "server.log")}</log><errorlog>{Path.Combine(_dir, "error.log")}</errorlog><console>0</console></logger>
              <http_port>{HttpPort}</http_port>
              <tcp_port>{TcpPort}</tcp_port>
            {https}
              <listen_host>127.0.0.1</listen_host>
              <path>{P("data")}</path>
              <tmp_path>{P("tmp")}</tmp_path>
              <user_files_path>{P("user_files")}</user_files_path>
              <format_schema_path>{P("format_schemas")}</format_schema_path>
              <users_config>users.xml</users_config>
              <default_profile>default</default_profile>
              <default_database>default</default_database>
              <mark_cache_size>268435456</mark_cache_size>
              <uncompressed_cache_size>268435456</uncompressed_cache_size>
              <max_concurrent_queries>200</max_concurrent_queries>
            </yandex>
            """;
        var users = $$"""
            <?xml version="1.0"?>
            <yandex>
              <profiles><default><max_memory_usage>8000000000</max_memory_usage></default></profiles>
              <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>{{extraUsers}}</users>
              <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
            </yandex>
            """;
        File.WriteAllText(Path.Combine(_dir, "config.xml"), config);
        File.WriteAllText(Path.Combine(_dir, "users.xml"), users);
    }

    /// <summary>Runs a query over HTTP and returns the response body; throws with the server's message on failure.</summary>
    public async Task<string> QueryAsync(string sql, CancellationToken ct = default)
    {
        using var content = new StringContent(sql, Encoding.UTF8);
        using var resp = await _http.PostAsync(HttpUrl + "/", content, ct).ConfigureAwait(false);
        var body = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"ClickHouse query failed ({(int)resp.StatusCode}): {body.Trim()}\nQuery: {sql}");
        return body;
    }

    public async Task<long> CountAsync(string sql, CancellationToken ct = default) =>
        long.Parse((await QueryAsync(sql, ct).ConfigureAwait(false)).Trim(), CultureInfo.InvariantCulture);

    /// <summary>Inserts a body in the given format: <c>INSERT INTO table FORMAT fmt</c> with the data as the request body.</summary>
    public async Task InsertAsync(string table, string format, HttpContent body, CancellationToken ct = default)
    {
        var q = Uri.EscapeDataString($"INSERT INTO {table} FORMAT {format}");
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var resp = await _http.PostAsync($"{HttpUrl}/?query={q}", body, ct).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode)
            throw new InvalidOperationException($"ClickHouse insert into {table} failed ({(int)resp.StatusCode}): {(await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false)).Trim()}");
    }

    public void Pause() => ServerProcess.Signal(Pid, ServerProcess.SIGSTOP);
    public void Resume() => ServerProcess.Signal(Pid, ServerProcess.SIGCONT);

    public ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false }) ServerProcess.Signal(_process.Id, ServerProcess.SIGCONT);
        ServerProcess.Stop(_process, ServerProcess.SIGTERM, TimeSpan.FromSeconds(10));
        _process?.Dispose();
        _http.Dispose();
        Certificates?.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return ValueTask.CompletedTask;
    }
}
