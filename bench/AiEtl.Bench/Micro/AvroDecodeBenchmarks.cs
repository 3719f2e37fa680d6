using AiEtl.Bench.Scenarios;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kafka.Avro;
using AiEtl.TestSupport;
using Avro;
using Avro.Generic;
using BenchmarkDotNet.Attributes;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;

namespace AiEtl.Bench.Micro;

/// <summary>
/// Avro decode on one thread: the same orders as <c>kafka-clickhouse</c> (8 fields) written by Confluent's
/// <c>AvroSerializer&lt;GenericRecord&gt;</c> in the Confluent wire format, decoded by the engine's
/// <see cref="AvroRowDecoder"/> into Arrow column builders, and by Confluent's <c>AvroDeserializer&lt;GenericRecord&gt;</c>
/// (the usual .NET way: one record object per message). The writer schema comes from the schema registry stand-in of
/// AiEtl.TestSupport (fetched once by each side, then cached), so the loop measures decoding only.
/// </summary>
[MemoryDiagnoser]
public class AvroDecodeBenchmarks
{
    private const int Messages = 16_384;
    private const int BatchRows = 8_192;

    private const string OrderSchema = """
        {"type":"record","name":"Order","namespace":"bench","fields":[
          {"name":"order_id","type":"long"},
          {"name":"customer_id","type":"long"},
          {"name":"product_id","type":"long"},
          {"name":"qty","type":"int"},
          {"name":"amount","type":"double"},
          {"name":"status","type":"string"},
          {"name":"country","type":["null","string"]},
          {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}}
        ]}
        """;

    private byte[][] _messages = [];
    private SchemaRegistryStandIn _registry = null!;
    private CachedSchemaRegistryClient _client = null!;
    private SchemaRegistryProvider _provider = null!;
    private AvroDeserializer<GenericRecord> _confluent = null!;
    private AvroRowDecoder _decoder = null!;
    private BatchBuilder _builder = null!;
    private readonly SerializationContext _context = new(MessageComponentType.Value, "orders");

    [GlobalSetup]
    public void Setup()
    {
        _registry = SchemaRegistryStandIn.Start();
        _client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = _registry.Url });
        var serializer = new AvroSerializer<GenericRecord>(_client, new AvroSerializerConfig { AutoRegisterSchemas = true });
        var schema = (RecordSchema)Avro.Schema.Parse(OrderSchema);
        _messages = new byte[Messages][];
        for (var i = 0; i < Messages; i++)
        {
            var v = KafkaClickHouseData.Row(i);
            var r = new GenericRecord(schema);
            r.Add("order_id", v.OrderId);
            r.Add("customer_id", v.CustomerId);
            r.Add("product_id", v.ProductId);
            r.Add("qty", v.Qty);
            r.Add("amount", v.AmountCents / 100.0);
            r.Add("status", KafkaClickHouseData.Statuses[v.Status]);
            r.Add("country", v.Country < 0 ? null : KafkaClickHouseData.Countries[v.Country]);
            r.Add("ts", DateTime.UnixEpoch.AddTicks(v.TsMicros * 10));
            _messages[i] = serializer.SerializeAsync(r, _context).GetAwaiter().GetResult();
        }
        _confluent = new AvroDeserializer<GenericRecord>(_client);
        _generic = new GenericReader<GenericRecord>(schema, schema);
        _provider = new SchemaRegistryProvider(new AvroRegistryOptions { Url = _registry.Url });
        var reader = AvroReaderSchema.FromDeclared(KafkaClickHouseData.Schema);
        _decoder = new AvroRowDecoder(reader, _provider);
        _builder = new BatchBuilder(KafkaClickHouseData.Schema, BatchRows);
        // Both sides fetch and cache the writer schema before the measured loops.
        Engine_avro_decoder();
        Confluent_generic_record();
        _requestsAfterWarmup = _registry.Requests.Count;
    }

    private GenericReader<GenericRecord> _generic = null!;

    private int _requestsAfterWarmup;

    [GlobalCleanup]
    public void Cleanup()
    {
        // The loops must not have talked to the registry (both sides cache the writer schema).
        Console.WriteLine($"// registry requests during the measured loops: {_registry.Requests.Count - _requestsAfterWarmup}");
        _builder.Dispose();
        _provider.Dispose();
        _client.Dispose();
        _registry.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Messages into column builders; every 8,192 rows the builder is reset (its buffers kept).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Messages)]
    public long Engine_avro_decoder()
    {
        var builder = _builder;
        var decoder = _decoder;
        long rows = 0;
        for (var i = 0; i < Messages; i++)
        {
            if (!decoder.TryDecode(_messages[i], builder)) throw new InvalidOperationException($"message {i}: {decoder.Error}");
            if (builder.Length == BatchRows)
            {
                rows += builder.Length;
                builder.Truncate(0);
            }
        }
        return rows + builder.Length;
    }

    /// <summary>Confluent's AvroDeserializer into a GenericRecord per message (called synchronously, as consumers do).</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public long Confluent_generic_record()
    {
        long qty = 0;
        for (var i = 0; i < Messages; i++)
        {
            var r = _confluent.DeserializeAsync(_messages[i], isNull: false, _context).GetAwaiter().GetResult();
            qty += (int)r["qty"];
        }
        return qty;
    }

    /// <summary>
    /// Apache.Avro's own <c>GenericReader</c> built once and reused (no registry, no header handling): the cheapest way
    /// to a record object per message, as a lower bound of the object path.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public long Apache_avro_generic_reader()
    {
        long qty = 0;
        GenericRecord? reuse = null;
        for (var i = 0; i < Messages; i++)
        {
            var m = _messages[i];
            using var stream = new MemoryStream(m, 5, m.Length - 5, writable: false);
            reuse = _generic.Read(reuse!, new Avro.IO.BinaryDecoder(stream));
            qty += (int)reuse["qty"];
        }
        return qty;
    }
}
