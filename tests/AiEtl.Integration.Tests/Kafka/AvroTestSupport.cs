using Avro;
using Avro.Generic;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;

namespace AiEtl.Integration.Tests.Kafka;

/// <summary>Test messages written by Confluent's own <see cref="AvroSerializer{T}"/> against the registry stand-in.</summary>
internal sealed class AvroWriter : IDisposable
{
    private readonly CachedSchemaRegistryClient _client;
    private readonly AvroSerializer<GenericRecord> _serializer;

    public AvroWriter(string registryUrl, string? user = null, string? password = null)
    {
        var config = new SchemaRegistryConfig { Url = registryUrl };
        if (user is not null)
        {
            config.BasicAuthCredentialsSource = AuthCredentialsSource.UserInfo;
            config.BasicAuthUserInfo = $"{user}:{password}";
        }
        _client = new CachedSchemaRegistryClient(config);
        _serializer = new AvroSerializer<GenericRecord>(_client, new AvroSerializerConfig { AutoRegisterSchemas = true });
    }

    /// <summary>The bytes Confluent's serializer writes for the record (registering its schema under <c>&lt;topic&gt;-value</c>).</summary>
    public byte[] Serialize(string topic, GenericRecord record) =>
        _serializer.SerializeAsync(record, new SerializationContext(MessageComponentType.Value, topic)).GetAwaiter().GetResult();

    public static RecordSchema Parse(string json) => (RecordSchema)Avro.Schema.Parse(json);

    /// <summary>A record of <paramref name="schema"/> with the given field values.</summary>
    public static GenericRecord Record(RecordSchema schema, params (string Name, object? Value)[] values)
    {
        var r = new GenericRecord(schema);
        foreach (var (n, v) in values) r.Add(n, v);
        return r;
    }

    public static GenericEnum Enum(RecordSchema schema, string field, string symbol)
    {
        var s = schema[field].Schema;
        if (s is UnionSchema u) s = u.Schemas.First(b => b is EnumSchema);
        return new GenericEnum((EnumSchema)s, symbol);
    }

    public void Dispose() => _client.Dispose();
}
