using System.Text.Json;
using Confluent.Kafka;

namespace AiEtl.Engine.Kafka;

/// <summary>
/// A reader's checkpointed position: the next offset of each owned partition,
/// <c>{"v":1,"partitions":[{"topic":"t","partition":0,"offset":42}, …]}</c>.
/// </summary>
internal static class KafkaPosition
{
    public static byte[] Encode(IEnumerable<(string Topic, int Partition, long Offset)> partitions)
    {
        using var ms = new MemoryStream(128);
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("v"u8, 1);
            w.WriteStartArray("partitions"u8);
            foreach (var (topic, partition, offset) in partitions)
            {
                w.WriteStartObject();
                w.WriteString("topic"u8, topic);
                w.WriteNumber("partition"u8, partition);
                w.WriteNumber("offset"u8, offset);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <exception cref="InvalidDataException">The bytes are not a position written by <see cref="Encode"/>.</exception>
    public static Dictionary<TopicPartition, long> Decode(ReadOnlySpan<byte> position, string source)
    {
        var result = new Dictionary<TopicPartition, long>();
        try
        {
            var reader = new Utf8JsonReader(position);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.GetProperty("v").GetInt32() != 1) throw new FormatException("unknown position version");
            foreach (var p in root.GetProperty("partitions").EnumerateArray())
            {
                var tp = new TopicPartition(p.GetProperty("topic").GetString()!, p.GetProperty("partition").GetInt32());
                var offset = p.GetProperty("offset").GetInt64();
                if (offset < 0) throw new FormatException($"negative offset for {tp}");
                result[tp] = offset;
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new InvalidDataException($"kafka source '{source}': unreadable checkpoint position", e);
        }
        return result;
    }
}
