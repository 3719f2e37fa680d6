using AiEtl.Engine.Columns;
using AiEtl.Engine.Kafka.Avro;
using Confluent.Kafka;

namespace AiEtl.Engine.Kafka;

/// <summary>
/// A value format of the Kafka source: decodes each value straight from librdkafka's buffer into the batch (inside
/// Confluent's deserializer call) and, when it fails, tells the reader what to write as the dead letter.
/// </summary>
internal interface IKafkaValueDecoder : IDeserializer<KafkaSourceReader.DecodeStatus>
{
    /// <summary>Dead-letter error class of the last failure.</summary>
    string ErrorClass { get; }

    /// <summary>Description of the last failure.</summary>
    string ErrorMessage { get; }

    /// <summary>The raw value of the last failed message.</summary>
    byte[] Raw { get; }
}

/// <summary>
/// <c>format: avro</c>: Confluent-framed Avro values decoded by <see cref="AvroRowDecoder"/>. A registry that cannot be
/// reached throws out of the deserializer (the reader stops the pipeline; the message is read again after the restart).
/// </summary>
internal sealed class AvroValueDecoder(AvroRowDecoder decoder, BatchBuilder builder, KafkaSourceReader.KeyCapture? keys) : IKafkaValueDecoder
{
    public string ErrorClass { get; private set; } = "";
    public string ErrorMessage { get; private set; } = "";
    public byte[] Raw { get; private set; } = [];

    public KafkaSourceReader.DecodeStatus Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
    {
        if (isNull)
        {
            ErrorClass = "decode";
            ErrorMessage = "the message has no value (a tombstone)";
            Raw = [];
            return KafkaSourceReader.DecodeStatus.Failed;
        }
        if (keys is { IsValid: false })
        {
            ErrorClass = "decode";
            ErrorMessage = "the message key is not valid UTF-8 (the _key column holds text)";
            Raw = data.ToArray();
            return KafkaSourceReader.DecodeStatus.Failed;
        }
        if (decoder.TryDecode(data, builder)) return KafkaSourceReader.DecodeStatus.Ok;
        var e = decoder.Error;
        ErrorClass = e.ErrorClass;
        ErrorMessage = e.Message;
        Raw = data.ToArray();
        return KafkaSourceReader.DecodeStatus.Failed;
    }
}
