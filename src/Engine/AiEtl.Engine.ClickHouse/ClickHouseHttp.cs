using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO;
using K4os.Compression.LZ4;

namespace AiEtl.Engine.ClickHouse;

/// <summary>
/// A ClickHouse failure, classified: <see cref="IsTransient"/> failures are retried with backoff (connection
/// refused/reset, timeouts, retryable server codes); the rest fail the pipeline at once with the server's message.
/// </summary>
public sealed class ClickHouseSinkException : Exception
{
    public ClickHouseSinkException(string message, bool isTransient = false, int? serverCode = null, bool mayHaveApplied = false, Exception? inner = null)
        : base(message, inner)
    {
        IsTransient = isTransient;
        ServerCode = serverCode;
        MayHaveApplied = mayHaveApplied;
    }

    public ClickHouseSinkException()
    {
    }

    public ClickHouseSinkException(string message) : base(message)
    {
    }

    public ClickHouseSinkException(string message, Exception inner) : base(message, inner)
    {
    }

    public bool IsTransient { get; }
    /// <summary>The ClickHouse error code (<c>Code: N</c>), when the server answered with one.</summary>
    public int? ServerCode { get; }
    /// <summary>The request reached the server and may have been applied (an insert must be checked before a retry).</summary>
    public bool MayHaveApplied { get; }
}

/// <summary>
/// Talks to one ClickHouse server over HTTP: DDL and metadata through ClickHouse.Driver (set up for old servers:
/// no JSON modes, no compression), inserts through a plain <see cref="HttpClient"/> streaming the Native bytes the
/// sink encoded. Both share one connection pool.
/// </summary>
internal sealed partial class ClickHouseHttp : IDisposable
{
    // Server error codes that are worth a retry (the rest are permanent: unknown table/column, type mismatch, syntax …).
    private static readonly HashSet<int> TransientCodes =
    [
        3,   // UNEXPECTED_END_OF_FILE (body cut by a dropped connection)
        159, // TIMEOUT_EXCEEDED
        164, // READONLY (replica temporarily read-only)
        202, // TOO_MANY_SIMULTANEOUS_QUERIES
        203, // NO_FREE_CONNECTION
        209, // SOCKET_TIMEOUT
        210, // NETWORK_ERROR
        241, // MEMORY_LIMIT_EXCEEDED
        242, // TABLE_IS_READ_ONLY
        252, // TOO_MANY_PARTS
        285, // TOO_FEW_LIVE_REPLICAS
        319, // UNKNOWN_STATUS_OF_INSERT
        394, // QUERY_WAS_CANCELLED
        425, // SYSTEM_ERROR
        439, // CANNOT_SCHEDULE_TASK
        999, // KEEPER_EXCEPTION
    ];

    private readonly HttpClient _http;
    private readonly ClickHouseClient _driver;
    private readonly Uri _base;
    private readonly ClickHouseSinkOptions _options;

    public ClickHouseHttp(ClickHouseSinkOptions options)
    {
        _options = options;
        _base = new Uri(options.Url.TrimEnd('/') + "/");
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = options.RequestTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            AutomaticDecompression = DecompressionMethods.None,
        };
        if (options.CaFile is not null) handler.SslOptions = TrustOnly(options.CaFile);
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.User}:{options.Password}")));
        _driver = new ClickHouseClient(new ClickHouseClientSettings
        {
            Host = _base.Host,
            Port = (ushort)_base.Port,
            Protocol = _base.Scheme,
            Path = _base.AbsolutePath.Trim('/'),
            Database = "default",
            Username = options.User,
            Password = options.Password,
            UseCompression = false,
            JsonReadMode = JsonReadMode.None,
            JsonWriteMode = JsonWriteMode.None,
            Timeout = options.RequestTimeout,
            HttpClient = _http,
        });
    }

    /// <summary>
    /// TLS that trusts only the CA certificates in <paramref name="caFile"/> (PEM): the chain must end at one of them
    /// and the certificate must name the host.
    /// </summary>
    private static SslClientAuthenticationOptions TrustOnly(string caFile)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        if (roots.Count == 0) throw new ArgumentException($"ca: no certificate in '{caFile}'");
        return new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
                if ((errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
            },
        };
    }

    /// <summary>Requests on the wire, for tests and metrics.</summary>
    public long Requests;

    /// <summary>Runs DDL or a mutation (no result).</summary>
    public async Task ExecuteAsync(string sql, CancellationToken ct, IReadOnlyDictionary<string, object>? settings = null)
    {
        Interlocked.Increment(ref Requests);
        QueryOptions? options = null;
        if (settings != null)
        {
            options = new QueryOptions { CustomSettings = new Dictionary<string, object>(StringComparer.Ordinal) };
            foreach (var (k, v) in settings) options.CustomSettings[k] = v;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            await _driver.ExecuteNonQueryAsync(sql, null, options, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (Classify(e, sql, ct) is { } c)
        {
            throw c;
        }
    }

    /// <summary>Runs a query and returns its rows as TSV fields (unescaped).</summary>
    public async Task<List<string[]>> QueryAsync(string sql, CancellationToken ct)
    {
        Interlocked.Increment(ref Requests);
        string text;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            using var raw = await _driver.ExecuteRawResultAsync(sql + " FORMAT TabSeparated", null, timeout.Token).ConfigureAwait(false);
            var stream = await raw.ReadAsStreamAsync().ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                using var reader = new StreamReader(stream, Encoding.UTF8);
                text = await reader.ReadToEndAsync(timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (Classify(e, sql, ct) is { } c)
        {
            throw c;
        }
        var rows = new List<string[]>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0) continue;
            rows.Add(line.Split('\t').Select(UnescapeTsv).ToArray());
        }
        return rows;
    }

    public async Task<string> ScalarAsync(string sql, CancellationToken ct)
    {
        var rows = await QueryAsync(sql, ct).ConfigureAwait(false);
        return rows.Count == 0 || rows[0].Length == 0 ? "" : rows[0][0];
    }

    /// <summary>
    /// POSTs one insert whose body is Native blocks; throws a classified <see cref="ClickHouseSinkException"/>.
    /// The request times out after the configured request timeout (a transient failure).
    /// </summary>
    public async Task InsertAsync(string insertSql, ReadOnlyMemory<byte> body, string queryId, CancellationToken ct)
    {
        var url = new StringBuilder(_base.ToString()).Append("?query=").Append(Uri.EscapeDataString(insertSql))
            .Append("&query_id=").Append(Uri.EscapeDataString(queryId));
        if (_options.Compression == ClickHouseCompression.Lz4)
            url.Append("&decompress=1&http_native_compression_disable_checksumming_on_decompress=1");
        using var request = new HttpRequestMessage(HttpMethod.Post, url.ToString()) { Content = Content(body) };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.RequestTimeout);
        Interlocked.Increment(ref Requests);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
            if (response.IsSuccessStatusCode) return;
            var text = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
            throw FromResponse((int)response.StatusCode, text, insertSql);
        }
        catch (Exception e) when (e is not ClickHouseSinkException && !ct.IsCancellationRequested)
        {
            throw Transport(e, insertSql);
        }
    }

    private HttpContent Content(ReadOnlyMemory<byte> body)
    {
        HttpContent content = _options.Compression switch
        {
            ClickHouseCompression.Gzip => new GzipContent(body),
            ClickHouseCompression.Lz4 => new ReadOnlyMemoryContent(Lz4Frames(body.Span)),
            _ => new ReadOnlyMemoryContent(body),
        };
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (_options.Compression == ClickHouseCompression.Gzip) content.Headers.ContentEncoding.Add("gzip");
        return content;
    }

    /// <summary>
    /// ClickHouse's compressed-block framing (what <c>decompress=1</c> reads): per block a 16-byte checksum, method
    /// 0x82 (LZ4), the compressed size including the 9-byte header, the uncompressed size, then the LZ4 block.
    /// The checksum is left zero: the request turns verification off (CityHash128 is not reimplemented here).
    /// </summary>
    private static ReadOnlyMemory<byte> Lz4Frames(ReadOnlySpan<byte> body)
    {
        const int BlockSize = 1 << 20;
        var blocks = (body.Length + BlockSize - 1) / BlockSize;
        var output = new byte[blocks * (25 + LZ4Codec.MaximumOutputSize(BlockSize))];
        var p = 0;
        for (var off = 0; off < body.Length; off += BlockSize)
        {
            var chunk = body.Slice(off, Math.Min(BlockSize, body.Length - off));
            var header = output.AsSpan(p);
            header[..16].Clear();
            header[16] = 0x82;
            var n = LZ4Codec.Encode(chunk, header[25..], LZ4Level.L00_FAST);
            BinaryPrimitives.WriteUInt32LittleEndian(header[17..], (uint)(n + 9));
            BinaryPrimitives.WriteUInt32LittleEndian(header[21..], (uint)chunk.Length);
            p += 25 + n;
        }
        return output.AsMemory(0, p);
    }

    private sealed class GzipContent(ReadOnlyMemory<byte> body) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            await SerializeToStreamAsync(stream, context, CancellationToken.None).ConfigureAwait(false);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            var gz = new GZipStream(stream, CompressionLevel.Fastest, leaveOpen: true);
            await using (gz.ConfigureAwait(false))
                await gz.WriteAsync(body, cancellationToken).ConfigureAwait(false);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [GeneratedRegex(@"Code:\s*(\d+)")]
    private static partial Regex CodePattern();

    private static int? CodeOf(string text)
    {
        var m = CodePattern().Match(text);
        return m.Success ? int.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture) : null;
    }

    private static ClickHouseSinkException FromResponse(int status, string body, string sql)
    {
        var code = CodeOf(body);
        var transient = code is { } c ? TransientCodes.Contains(c) : status is 408 or 429 or >= 500;
        var message = body.Trim();
        var cut = message.IndexOf(", e.what()", StringComparison.Ordinal);
        if (cut > 0) message = message[..cut];
        return new ClickHouseSinkException($"{message} (HTTP {status}; query: {Abbreviate(sql)})", transient, code, mayHaveApplied: true);
    }

    private ClickHouseSinkException? Classify(Exception e, string sql, CancellationToken ct)
    {
        if (ct.IsCancellationRequested && e is OperationCanceledException) return null;
        if (e is ClickHouseServerException server)
        {
            var text = server.Message.Trim();
            var cut = text.IndexOf(", e.what()", StringComparison.Ordinal);
            if (cut > 0) text = text[..cut];
            return new ClickHouseSinkException($"{text} (query: {Abbreviate(sql)})", TransientCodes.Contains(server.ErrorCode), server.ErrorCode, true, e);
        }
        return Transport(e, sql);
    }

    private ClickHouseSinkException Transport(Exception e, string sql)
    {
        var refused = e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError }
            || e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused };
        var what = e is OperationCanceledException ? $"no answer within {_options.RequestTimeout.TotalSeconds:0.###}s" : e.Message;
        var transient = e is HttpRequestException or IOException or SocketException or OperationCanceledException;
        return new ClickHouseSinkException($"ClickHouse at {_base.GetLeftPart(UriPartial.Authority)}: {what} (query: {Abbreviate(sql)})",
            transient, null, mayHaveApplied: !refused, e);
    }

    private static string Abbreviate(string sql) => sql.Length <= 200 ? sql : sql[..200] + "…";

    private static string UnescapeTsv(string s)
    {
        if (!s.Contains('\\', StringComparison.Ordinal)) return s;
        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c != '\\' || i + 1 == s.Length)
            {
                sb.Append(c);
                continue;
            }
            c = s[++i];
            sb.Append(c switch { 'n' => '\n', 't' => '\t', 'r' => '\r', '0' => '\0', 'b' => '\b', 'f' => '\f', _ => c });
        }
        return sb.ToString();
    }

    /// <summary>A SQL string literal.</summary>
    public static string Quote(string value) => "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

    /// <summary>A quoted identifier.</summary>
    public static string Ident(string name) => "`" + name.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("`", "\\`", StringComparison.Ordinal) + "`";

    public void Dispose()
    {
        _driver.Dispose();
        _http.Dispose();
    }
}

/// <summary>Exponential backoff with jitter, bounded by a total retry time.</summary>
internal sealed class RetryBudget(TimeSpan maxRetryTime, TimeSpan initial, TimeSpan max)
{
    private readonly long _start = Environment.TickCount64;
    private int _attempt;

    public int Attempts => _attempt;

    /// <summary>Waits before the next attempt, or returns false when the retry time is used up.</summary>
    public async ValueTask<bool> WaitAsync(CancellationToken ct)
    {
        var elapsed = TimeSpan.FromMilliseconds(Environment.TickCount64 - _start);
        if (elapsed >= maxRetryTime) return false;
        var cap = Math.Min(max.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, Math.Min(_attempt, 30)));
        var delay = cap / 2 + Random.Shared.NextDouble() * cap / 2;
        delay = Math.Min(delay, (maxRetryTime - elapsed).TotalMilliseconds);
        _attempt++;
        await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(1, delay)), ct).ConfigureAwait(false);
        return true;
    }

    public TimeSpan Elapsed => TimeSpan.FromMilliseconds(Environment.TickCount64 - _start);
}
