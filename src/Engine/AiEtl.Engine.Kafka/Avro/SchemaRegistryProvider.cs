using System.Net;
using Confluent.SchemaRegistry;

namespace AiEtl.Engine.Kafka.Avro;

/// <summary>Where a Kafka source with <c>format: avro</c> finds its writer schemas.</summary>
public sealed record AvroRegistryOptions
{
    /// <summary>Base URL of a Confluent-compatible schema registry.</summary>
    public required string Url { get; init; }

    /// <summary>Subject whose latest schema gives the columns when none are declared (default <c>&lt;topic&gt;-value</c>).</summary>
    public string? Subject { get; init; }

    /// <summary>HTTP basic-auth user (with <see cref="BasicAuthPassword"/>).</summary>
    public string? BasicAuthUser { get; init; }

    /// <summary>HTTP basic-auth password.</summary>
    public string? BasicAuthPassword { get; init; }

    /// <summary>Longest one registry request may take.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Writer schemas from a schema registry through Confluent's <see cref="CachedSchemaRegistryClient"/> (which caches
/// schemas by id; the decoder compiles each id once on top of that). Thread-safe: shared by a source's readers.
/// </summary>
public sealed class SchemaRegistryProvider : IAvroSchemaProvider, IDisposable
{
    private readonly CachedSchemaRegistryClient _client;
    private readonly string _url;

    public SchemaRegistryProvider(AvroRegistryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _url = options.Url;
        var config = new SchemaRegistryConfig
        {
            Url = options.Url,
            RequestTimeoutMs = (int)Math.Clamp(options.RequestTimeout.TotalMilliseconds, 1, int.MaxValue),
        };
        if (options.BasicAuthUser is not null)
        {
            config.BasicAuthCredentialsSource = AuthCredentialsSource.UserInfo;
            config.BasicAuthUserInfo = $"{options.BasicAuthUser}:{options.BasicAuthPassword}";
        }
        _client = new CachedSchemaRegistryClient(config);
    }

    /// <inheritdoc/>
    /// <exception cref="KafkaSourceException">The registry cannot be reached, refuses the credentials, or fails (the pipeline stops; the message is read again after a restart).</exception>
    public bool TryGetWriterSchema(int id, out string schema, out string problem)
    {
        schema = "";
        problem = "";
        Schema s;
        try
        {
            s = _client.GetSchemaAsync(id).GetAwaiter().GetResult();
        }
        catch (SchemaRegistryException e) when (e.Status == HttpStatusCode.NotFound)
        {
            problem = $"not found in the schema registry ({e.ErrorCode})";
            return false;
        }
        catch (Exception e) when (e is SchemaRegistryException or HttpRequestException or TaskCanceledException or TimeoutException or AggregateException)
        {
            throw Unavailable($"fetching writer schema {id}", e);
        }
        if (s.SchemaType != SchemaType.Avro)
        {
            problem = $"a {s.SchemaType} schema, not Avro";
            return false;
        }
        schema = s.SchemaString;
        return true;
    }

    /// <summary>The latest schema registered under <paramref name="subject"/> (plan time: the columns of a source without a declared schema).</summary>
    /// <exception cref="AvroSchemaException">No such subject, or its schema is not Avro.</exception>
    /// <exception cref="KafkaSourceException">The registry cannot be reached or fails.</exception>
    public string GetLatestSchema(string subject)
    {
        RegisteredSchema s;
        try
        {
            s = _client.GetLatestSchemaAsync(subject).GetAwaiter().GetResult();
        }
        catch (SchemaRegistryException e) when (e.Status == HttpStatusCode.NotFound)
        {
            throw new AvroSchemaException($"subject '{subject}' has no schema in the registry at {_url}; declare the schema, or name the subject (schema_registry.subject)");
        }
        catch (Exception e) when (e is SchemaRegistryException or HttpRequestException or TaskCanceledException or TimeoutException or AggregateException)
        {
            throw Unavailable($"fetching the latest schema of subject '{subject}'", e);
        }
        if (s.SchemaType != SchemaType.Avro) throw new AvroSchemaException($"subject '{subject}' holds a {s.SchemaType} schema, not Avro");
        return s.SchemaString;
    }

    private KafkaSourceException Unavailable(string what, Exception e)
    {
        var reason = e is SchemaRegistryException sre ? $"HTTP {(int)sre.Status}: {sre.Message}" : e.Message;
        return new KafkaSourceException($"schema registry {_url}: {what} failed: {reason}", e);
    }

    public void Dispose() => _client.Dispose();
}
