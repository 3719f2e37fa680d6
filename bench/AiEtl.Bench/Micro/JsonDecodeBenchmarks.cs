using System.Text.Json;
using AiEtl.Bench.Scenarios;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Json;
using BenchmarkDotNet.Attributes;

namespace AiEtl.Bench.Micro;

/// <summary>
/// The <c>kafka-clickhouse</c> decode contest without Kafka: the same ≈220-byte JSON orders (8 fields) decoded
/// on one thread by the engine's <see cref="JsonRowDecoder"/> into Arrow column builders, and by
/// System.Text.Json into objects (<c>json_poco</c>). Figures are per message; the ratio of the two rows is
/// the "≥ 3× json_poco" target, measured in one process.
/// </summary>
[MemoryDiagnoser]
public class JsonDecodeBenchmarks
{
    private const int Messages = 16_384;
    private const int BatchRows = 8_192;
    private byte[] _bytes = [];
    private int[] _offsets = [];
    private JsonRowDecoder _decoder = null!;
    private BatchBuilder _builder = null!;

    [GlobalSetup]
    public void Setup()
    {
        (_bytes, _offsets) = KafkaClickHouseData.Messages(Messages);
        _decoder = new JsonRowDecoder(KafkaClickHouseData.Schema);
        _builder = new BatchBuilder(KafkaClickHouseData.Schema, BatchRows);
    }

    [GlobalCleanup]
    public void Cleanup() => _builder.Dispose();

    /// <summary>Messages into column builders; every 8,192 rows the builder is reset (its buffers kept).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Messages)]
    public long Engine_decoder()
    {
        var builder = _builder;
        var decoder = _decoder;
        long rows = 0;
        for (var i = 0; i < Messages; i++)
        {
            if (!decoder.TryDecode(_bytes.AsSpan(_offsets[i], _offsets[i + 1] - _offsets[i]), builder, out var error))
                throw new InvalidOperationException($"message {i}: {error.Message}");
            if (builder.Length == BatchRows)
            {
                rows += builder.Length;
                builder.Truncate(0);
            }
        }
        return rows + builder.Length;
    }

    /// <summary><c>json_poco</c>: System.Text.Json into objects (source-generated metadata).</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public long Json_poco()
    {
        var info = OrderPocoJsonContext.Default.OrderPoco;
        long qty = 0;
        for (var i = 0; i < Messages; i++)
            qty += JsonSerializer.Deserialize(_bytes.AsSpan(_offsets[i], _offsets[i + 1] - _offsets[i]), info)!.Qty;
        return qty;
    }
}
