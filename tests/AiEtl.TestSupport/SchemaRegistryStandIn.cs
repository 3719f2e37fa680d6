using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AiEtl.TestSupport;

/// <summary>
/// A STAND-IN for the Confluent Schema Registry, for tests: there is no Java schema registry on the development
/// and CI machines, so this small HTTP server on a free loopback port answers the subset of the registry's REST API
/// that Confluent's .NET client (<c>CachedSchemaRegistryClient</c>, the Avro serializer and deserializer) uses:
/// <list type="bullet">
/// <item><c>POST /subjects/{subject}/versions</c> — register (returns the existing id for a schema already registered),</item>
/// <item><c>POST /subjects/{subject}</c> — look a schema up under a subject,</item>
/// <item><c>GET /schemas/ids/{id}</c> — a schema by id,</item>
/// <item><c>GET /subjects/{subject}/versions/latest</c> and <c>/versions/{n}</c>, <c>GET /subjects</c>.</item>
/// </list>
/// Errors use the registry's JSON shape (<c>{"error_code": 40403, "message": …}</c>, 40401 unknown subject, 40403 unknown
/// schema, 401 bad credentials). Schema ids are global and shared by identical schema texts, as in the real registry;
/// no compatibility checks, no schema references, no normalisation. HTTP basic auth is checked when credentials are given.
/// </summary>
public sealed class SchemaRegistryStandIn : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly string? _authorization;
    private readonly object _lock = new();
    private readonly Dictionary<string, int> _idBySchema = new(StringComparer.Ordinal);
    private readonly Dictionary<int, (string Schema, string? Type)> _schemas = [];
    private readonly Dictionary<string, List<int>> _subjects = new(StringComparer.Ordinal);
    private readonly Task _loop;
    private readonly CancellationTokenSource _stop = new();

    private SchemaRegistryStandIn(string? user, string? password)
    {
        if (user is not null) _authorization = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
        // HttpListener cannot bind port 0: take a free port from the OS, retry if another process grabs it first.
        for (var attempt = 0; ; attempt++)
        {
            var port = FreePort();
            Url = $"http://127.0.0.1:{port}";
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add(Url + "/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 10)
            {
            }
        }
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>The base URL (<c>http://127.0.0.1:PORT</c>).</summary>
    public string Url { get; }

    /// <summary>Requests served, as <c>METHOD /path</c> (for checking what the clients asked).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Starts a stand-in; with <paramref name="user"/> every request must carry these basic-auth credentials.</summary>
    public static SchemaRegistryStandIn Start(string? user = null, string? password = null) => new(user, password);

    /// <summary>Registers <paramref name="schema"/> under <paramref name="subject"/> directly (as a client's POST would); returns its id.</summary>
    public int Register(string subject, string schema, string? schemaType = null)
    {
        lock (_lock)
        {
            if (!_idBySchema.TryGetValue(schema, out var id))
            {
                id = _schemas.Count + 1;
                _idBySchema[schema] = id;
                _schemas[id] = (schema, schemaType);
            }
            if (!_subjects.TryGetValue(subject, out var versions)) _subjects[subject] = versions = [];
            if (!versions.Contains(id)) versions.Add(id);
            return id;
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(ctx));
        }
    }

    private async Task ServeAsync(HttpListenerContext ctx)
    {
        var req = ctx.Request;
        var path = req.Url!.AbsolutePath;
        Requests.Enqueue($"{req.HttpMethod} {path}");
        int status;
        JsonNode body;
        if (_authorization is not null && req.Headers["Authorization"] != _authorization)
        {
            (status, body) = Error(401, 401, "Unauthorized");
        }
        else
        {
            string? requestBody = null;
            if (req.HasEntityBody)
            {
                using var reader = new StreamReader(req.InputStream, Encoding.UTF8);
                requestBody = await reader.ReadToEndAsync().ConfigureAwait(false);
            }
            try
            {
                (status, body) = Handle(req.HttpMethod, path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray(), requestBody);
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
            {
                (status, body) = Error(422, 42201, "Invalid request: " + e.Message);
            }
        }
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/vnd.schemaregistry.v1+json";
        ctx.Response.ContentLength64 = bytes.Length;
        try
        {
            await ctx.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
            ctx.Response.Close();
        }
        catch (HttpListenerException)
        {
            // The client went away.
        }
    }

    private (int, JsonNode) Handle(string method, string[] seg, string? requestBody)
    {
        lock (_lock)
        {
            switch (method, seg.Length)
            {
                case ("GET", 3) when seg[0] == "schemas" && seg[1] == "ids":
                {
                    if (!int.TryParse(seg[2], out var id) || !_schemas.TryGetValue(id, out var s)) return Error(404, 40403, "Schema not found");
                    var o = new JsonObject { ["schema"] = s.Schema };
                    if (s.Type is not null) o["schemaType"] = s.Type;
                    return (200, o);
                }
                case ("GET", 1) when seg[0] == "subjects":
                    return (200, new JsonArray(_subjects.Keys.Select(k => (JsonNode)k).ToArray()));
                case ("GET", 2) when seg[0] == "subjects":
                    return _subjects.TryGetValue(seg[1], out var vs)
                        ? (200, new JsonArray(vs.Select((_, i) => (JsonNode)(i + 1)).ToArray()))
                        : Error(404, 40401, $"Subject '{seg[1]}' not found.");
                case ("GET", 4) when seg[0] == "subjects" && seg[2] == "versions":
                {
                    if (!_subjects.TryGetValue(seg[1], out var versions)) return Error(404, 40401, $"Subject '{seg[1]}' not found.");
                    var v = seg[3] == "latest" ? versions.Count : int.TryParse(seg[3], out var n) ? n : 0;
                    if (v < 1 || v > versions.Count) return Error(404, 40402, "Version not found.");
                    return (200, Registered(seg[1], v, versions[v - 1]));
                }
                case ("POST", 3) when seg[0] == "subjects" && seg[2] == "versions":
                {
                    var (schema, type) = ReadSchema(requestBody);
                    var id = Register(seg[1], schema, type);
                    var version = _subjects[seg[1]].IndexOf(id) + 1;
                    return (200, Registered(seg[1], version, id));
                }
                case ("POST", 2) when seg[0] == "subjects":
                {
                    var (schema, _) = ReadSchema(requestBody);
                    if (!_subjects.TryGetValue(seg[1], out var versions)) return Error(404, 40401, $"Subject '{seg[1]}' not found.");
                    if (!_idBySchema.TryGetValue(schema, out var id) || !versions.Contains(id)) return Error(404, 40403, "Schema not found");
                    return (200, Registered(seg[1], versions.IndexOf(id) + 1, id));
                }
                default:
                    return Error(404, 404, $"HTTP 404 Not Found ({method} /{string.Join('/', seg)} is not served by this stand-in)");
            }
        }
    }

    private JsonObject Registered(string subject, int version, int id)
    {
        var s = _schemas[id];
        var o = new JsonObject { ["subject"] = subject, ["version"] = version, ["id"] = id, ["schema"] = s.Schema };
        if (s.Type is not null) o["schemaType"] = s.Type;
        return o;
    }

    private static (string Schema, string? Type) ReadSchema(string? body)
    {
        var o = JsonNode.Parse(body ?? throw new FormatException("no request body"))!.AsObject();
        var schema = o["schema"]?.GetValue<string>() ?? throw new FormatException("no 'schema' in the request");
        var type = o["schemaType"]?.GetValue<string>();
        return (schema, type is null or "AVRO" ? null : type);
    }

    private static (int, JsonNode) Error(int status, int code, string message) =>
        (status, new JsonObject { ["error_code"] = code, ["message"] = message });

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        _listener.Close();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
        }
        _stop.Dispose();
    }
}
