using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace AiEtl.Engine.Kafka;

/// <summary>
/// librdkafka's batch consume call (<c>rd_kafka_consume_batch_queue</c>) on the consumer queue of a consumer that
/// Confluent.Kafka created and still owns (assignment, commits, offsets, callbacks all stay with it). Confluent's
/// <c>Consume</c> costs, per message, a poll call, a marshalled copy of the message struct, a topic-name string, a
/// timestamp and a leader-epoch call and two result objects; here one native call hands over up to a whole batch
/// of message pointers, and the reader reads their fields in place and releases each message when it is decoded.
/// <para>
/// The functions are taken from the very library Confluent.Kafka bound (it picks one of several native builds at
/// run time); when that cannot be established, <see cref="TryCreate"/> returns null and the reader uses Confluent's
/// per-message <c>Consume</c>. <c>AIETL_KAFKA_CONSUME=per-message</c> forces that path (for comparison).
/// </para>
/// </summary>
internal sealed unsafe class NativeBatchConsumer : IDisposable
{
    /// <summary>librdkafka's <c>rd_kafka_message_t</c> (a stable public struct of its ABI).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Message
    {
        public int Err;
        public nint Rkt;
        public int Partition;
        public byte* Payload;
        public nuint Len;
        public byte* Key;
        public nuint KeyLen;
        public long Offset;
        public nint Private;
    }

    /// <summary><c>RD_KAFKA_RESP_ERR__PARTITION_EOF</c>.</summary>
    public const int PartitionEof = -191;

    private static readonly Lazy<Api?> s_api = new(Api.TryLoad);

    private readonly SafeHandle _handle;
    private readonly nint _queue;
    private readonly Api _api;
    private readonly Message** _messages;
    private readonly Dictionary<nint, string> _topics = [];
    private int _count;
    private int _disposed;

    private NativeBatchConsumer(SafeHandle handle, nint queue, Api api, int capacity)
    {
        _handle = handle;
        _queue = queue;
        _api = api;
        Capacity = capacity;
        _messages = (Message**)NativeMemory.Alloc((nuint)capacity, (nuint)sizeof(nint));
    }

    /// <summary>Most messages one <see cref="Consume"/> returns.</summary>
    public int Capacity { get; }

    /// <summary>The batch path for <paramref name="consumer"/>, or null (with the reason) when it is not available.</summary>
    public static NativeBatchConsumer? TryCreate(IClient consumer, int capacity, bool perMessage, out string? reason)
    {
        if (perMessage || Environment.GetEnvironmentVariable("AIETL_KAFKA_CONSUME") is "per-message")
        {
            reason = "per-message consume requested";
            return null;
        }
        if (s_api.Value is not { } api)
        {
            reason = Api.LoadFailure ?? "librdkafka's batch consume functions were not found";
            return null;
        }
        SafeHandle? handle;
        try
        {
            handle = consumer.Handle.GetType().GetProperty("LibrdkafkaHandle", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)?.GetValue(consumer.Handle) as SafeHandle;
        }
        catch (TargetInvocationException e)
        {
            reason = $"the consumer's native handle is not reachable: {e.InnerException?.Message}";
            return null;
        }
        if (handle is null || handle.IsInvalid)
        {
            reason = "the consumer's native handle is not reachable";
            return null;
        }
        var added = false;
        handle.DangerousAddRef(ref added);
        var queue = api.QueueGetConsumer(handle.DangerousGetHandle());
        if (queue == 0)
        {
            handle.DangerousRelease();
            reason = "the consumer has no consumer queue (no group.id)";
            return null;
        }
        reason = null;
        return new NativeBatchConsumer(handle, queue, api, capacity);
    }

    /// <summary>
    /// Takes up to <paramref name="max"/> messages (at most <see cref="Capacity"/>): those already fetched, or, with a
    /// timeout, waits until that many arrived or the time passed. Every message taken must be released with
    /// <see cref="Release"/> before the next call.
    /// </summary>
    public int Consume(int timeoutMs, int max)
    {
        if (_count != 0) throw new InvalidOperationException("the previous messages were not released");
        var n = _api.ConsumeBatchQueue(_queue, timeoutMs, _messages, (nuint)Math.Min(max, Capacity));
        if (n < 0) throw new KafkaException(new Error(ErrorCode.Local_Fail, "rd_kafka_consume_batch_queue failed"));
        _count = (int)n;
        return _count;
    }

    /// <summary>Message <paramref name="i"/> of the last <see cref="Consume"/>; valid until released.</summary>
    public Message* this[int i] => (uint)i < (uint)_count ? _messages[i] : throw new ArgumentOutOfRangeException(nameof(i));

    /// <summary>Releases messages <paramref name="from"/>.. of the last <see cref="Consume"/> (the ones before were released).</summary>
    public void Release(int from)
    {
        for (var i = from; i < _count; i++)
        {
            if (_messages[i] == null) continue;
            _api.MessageDestroy(_messages[i]);
            _messages[i] = null;
        }
        _count = 0;
    }

    /// <summary>Releases one message now (its payload is no longer needed); <see cref="Release"/> skips it.</summary>
    public void ReleaseOne(int i)
    {
        if (_messages[i] == null) return;
        _api.MessageDestroy(_messages[i]);
        _messages[i] = null;
    }

    /// <summary>
    /// The topic of a message or partition EOF, by librdkafka's topic handle: those handles live as long as the
    /// client, so names are cached per handle.
    /// </summary>
    public string TopicName(nint rkt)
    {
        if (rkt == 0) return "";
        if (_topics.TryGetValue(rkt, out var name)) return name;
        name = TopicNameUncached(rkt);
        _topics[rkt] = name;
        return name;
    }

    /// <summary>The topic named by an error message: its handle may be made for that error alone, so it is not cached.</summary>
    public string TopicNameUncached(nint rkt) => rkt == 0 ? "" : Marshal.PtrToStringUTF8(_api.TopicName(rkt)) ?? "";

    /// <summary>The error text of an error message (librdkafka puts it in the payload), else the code's description.</summary>
    public string ErrorText(Message* m) =>
        m->Payload != null && m->Len > 0
            ? System.Text.Encoding.UTF8.GetString(m->Payload, (int)Math.Min(m->Len, 4096))
            : Marshal.PtrToStringUTF8(_api.Err2Str(m->Err)) ?? $"error {m->Err}";

    public Timestamp Timestamp(Message* m)
    {
        int type;
        var ms = _api.MessageTimestamp(m, &type);
        return type == 0 || ms < 0 ? new Timestamp(0, TimestampType.NotAvailable) : new Timestamp(ms, (TimestampType)type);
    }

    /// <summary>The message's headers in order (copied), or null when it has none.</summary>
    public Headers? Headers(Message* m)
    {
        nint headers;
        if (_api.MessageHeaders(m, &headers) != 0 || headers == 0) return null;
        var result = new Headers();
        for (nuint idx = 0; ; idx++)
        {
            byte* name;
            byte* value;
            nuint size;
            if (_api.HeaderGetAll(headers, idx, &name, &value, &size) != 0) break;
            var key = Marshal.PtrToStringUTF8((nint)name) ?? "";
            result.Add(key, value == null ? null : new ReadOnlySpan<byte>(value, (int)size).ToArray());
        }
        return result;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_count != 0) Release(0);
        _api.QueueDestroy(_queue);
        NativeMemory.Free(_messages);
        _handle.DangerousRelease();
    }

    /// <summary>The entry points, from the library Confluent.Kafka's own bindings were made against.</summary>
    private sealed class Api
    {
        public static string? LoadFailure;

        public required delegate* unmanaged<nint, nint> QueueGetConsumer { get; init; }
        public required delegate* unmanaged<nint, void> QueueDestroy { get; init; }
        public required delegate* unmanaged<nint, int, Message**, nuint, nint> ConsumeBatchQueue { get; init; }
        public required delegate* unmanaged<Message*, void> MessageDestroy { get; init; }
        public required delegate* unmanaged<Message*, int*, long> MessageTimestamp { get; init; }
        public required delegate* unmanaged<Message*, nint*, int> MessageHeaders { get; init; }
        public required delegate* unmanaged<nint, nuint, byte**, byte**, nuint*, int> HeaderGetAll { get; init; }
        public required delegate* unmanaged<nint, nint> TopicName { get; init; }
        public required delegate* unmanaged<int, nint> Err2Str { get; init; }

        public static Api? TryLoad()
        {
            try
            {
                // Confluent.Kafka binds librdkafka through one of several P/Invoke classes (glibc, centos8, musl
                // builds) chosen when it first loads; its consumer_poll binding names the library it chose.
                var assembly = typeof(Library).Assembly;
                var bindings = assembly.GetType("Confluent.Kafka.Impl.Librdkafka");
                var poll = bindings?.GetField("_consumer_poll", BindingFlags.Static | BindingFlags.NonPublic)?.GetValue(null) as Delegate;
                var libraryName = poll?.Method.GetCustomAttribute<DllImportAttribute>()?.Value;
                if (libraryName is null)
                {
                    LoadFailure = "Confluent.Kafka's librdkafka binding was not found";
                    return null;
                }
                var lib = NativeLibrary.Load(libraryName, poll!.Method.DeclaringType!.Assembly, null);
                return new Api
                {
                    QueueGetConsumer = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(lib, "rd_kafka_queue_get_consumer"),
                    QueueDestroy = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(lib, "rd_kafka_queue_destroy"),
                    ConsumeBatchQueue = (delegate* unmanaged<nint, int, Message**, nuint, nint>)NativeLibrary.GetExport(lib, "rd_kafka_consume_batch_queue"),
                    MessageDestroy = (delegate* unmanaged<Message*, void>)NativeLibrary.GetExport(lib, "rd_kafka_message_destroy"),
                    MessageTimestamp = (delegate* unmanaged<Message*, int*, long>)NativeLibrary.GetExport(lib, "rd_kafka_message_timestamp"),
                    MessageHeaders = (delegate* unmanaged<Message*, nint*, int>)NativeLibrary.GetExport(lib, "rd_kafka_message_headers"),
                    HeaderGetAll = (delegate* unmanaged<nint, nuint, byte**, byte**, nuint*, int>)NativeLibrary.GetExport(lib, "rd_kafka_header_get_all"),
                    TopicName = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(lib, "rd_kafka_topic_name"),
                    Err2Str = (delegate* unmanaged<int, nint>)NativeLibrary.GetExport(lib, "rd_kafka_err2str"),
                };
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException or InvalidOperationException or TargetInvocationException)
            {
                LoadFailure = $"librdkafka's batch consume functions could not be bound: {e.Message}";
                return null;
            }
        }
    }
}
