using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Json;
using AiEtl.Engine.Kafka.Avro;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AiEtl.Engine.Kafka;

/// <summary>
/// One reader of a <see cref="KafkaSource"/>: a consumer with a manual assignment of its partitions.
/// Values are decoded inside Confluent's deserializer call, straight from librdkafka's buffer into the
/// batch's Arrow columns (no byte array or object per message of our own; the raw bytes are copied only
/// for dead letters).
/// <para>
/// Backpressure: the reader polls only when the engine asks for a batch, and librdkafka's prefetch queue
/// is bounded by bytes (<see cref="KafkaSourceOptions.MaxPrefetchKBytes"/>): when the
/// pipeline is slow the queue fills and librdkafka stops fetching, which bounds memory exactly as pausing
/// the partitions would. With a manual assignment there is no group membership, so not polling for a long
/// time cannot trigger a rebalance (<c>max.poll.interval.ms</c> does not apply).
/// </para>
/// </summary>
internal sealed class KafkaSourceReader : ISourceReader, ISplitEventTime
{
    private static readonly JsonWriterOptions HeaderJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly KafkaSource _source;
    private readonly KafkaSourceOptions _options;
    private readonly ConnectorContext _context;
    private readonly ILogger _logger;
    private readonly List<TopicPartition> _owned;
    private readonly Dictionary<string, int> _topicIndex;
    private readonly long[] _next;          // next offset to read per owned partition (-1 before the start is resolved)
    private readonly long[] _committed;     // last offsets committed to the group
    private long[]? _snapshot;              // positions of the last barrier
    private readonly BatchBuilder _data;
    private readonly BatchBuilder? _meta;
    private readonly MetaColumn[] _metaColumns;
    private readonly IKafkaValueDecoder _values;
    private readonly KeyCapture? _keys;
    private readonly KeyValuePair<string, object?>[] _metricTags;
    private readonly bool _singleTopic;
    private readonly int[] _slotOfPartition; // single topic: partition → index into _owned (−1: not owned)
    private IConsumer<Ignore, DecodeStatus>? _consumer;
    private NativeBatchConsumer? _native;   // librdkafka's batch consume on _consumer (null: Confluent's per-message Consume)
    private readonly bool _needTimestamp;
    private readonly bool _needHeaders;
    private Dictionary<TopicPartition, long>? _restored;
    private bool _started;
    private Exception? _fatal;
    private ArrayBufferWriter? _headerBuffer;
    private Utf8JsonWriter? _headerWriter;
    // Per-partition event time (ISplitEventTime): the owned partition of each row of the open batch, each
    // partition's largest event time, and whether it has caught up with the broker (partition EOF).
    private int _eventTimeColumn = -1;
    private int[] _rowSplit = [];
    private long[] _splitMax = [];
    private bool[] _caughtUp = [];
    // stop: latest — each owned partition's high watermark when the reader started (null: unbounded), whether
    // it has been read up to there, and how many have not.
    private long[]? _stopAt;
    private bool[] _done = [];
    private int _open;

    public KafkaSourceReader(KafkaSource source, List<TopicPartition> owned, ConnectorContext context)
    {
        _source = source;
        _options = source.Options;
        _context = context;
        _logger = _options.Logger ?? NullLogger.Instance;
        _owned = owned;
        _singleTopic = _options.Topics.Count == 1;
        _topicIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var t = 0; t < _options.Topics.Count; t++) _topicIndex[_options.Topics[t]] = t;
        _slotOfPartition = new int[owned.Count == 0 ? 0 : owned.Max(tp => tp.Partition.Value) + 1];
        System.Array.Fill(_slotOfPartition, -1);
        if (_singleTopic) for (var k = 0; k < owned.Count; k++) _slotOfPartition[owned[k].Partition.Value] = k;
        _next = new long[owned.Count];
        _committed = new long[owned.Count];
        System.Array.Fill(_next, -1);
        System.Array.Fill(_committed, -1);
        _data = new BatchBuilder(_options.Schema, _options.BatchSize);
        _metaColumns = _options.MetadataColumns.Select(n => n switch
        {
            "_key" => MetaColumn.Key,
            "_topic" => MetaColumn.Topic,
            "_partition" => MetaColumn.Partition,
            "_offset" => MetaColumn.Offset,
            "_timestamp" => MetaColumn.Timestamp,
            _ => MetaColumn.Headers,
        }).ToArray();
        if (_metaColumns.Length > 0) _meta = new BatchBuilder(source.MetadataSchema, _options.BatchSize);
        _needTimestamp = _metaColumns.Contains(MetaColumn.Timestamp);
        _needHeaders = _metaColumns.Contains(MetaColumn.Headers);
        if (_metaColumns.Contains(MetaColumn.Key)) _keys = new KeyCapture();
        if (_options.Format == KafkaFormat.Avro)
        {
            var schemas = source.AcquireAvroSchemas();
            try
            {
                _values = new AvroValueDecoder(new AvroRowDecoder(source.AvroReader!, schemas), _data, _keys);
            }
            catch
            {
                source.ReleaseAvroSchemas();
                throw;
            }
            _holdsSchemas = true;
        }
        else
        {
            _values = new ValueDecoder(new JsonRowDecoder(_options.Schema, _options.Columns), _data, _keys);
        }
        _metricTags = [new("pipeline", context.Metrics.Pipeline), new("operator", source.Name)];
    }

    private enum MetaColumn : byte { Key, Topic, Partition, Offset, Timestamp, Headers }

    private bool _holdsSchemas; // took the source's registry client (format: avro); given back on dispose

    /// <summary>Whether messages are taken with librdkafka's batch call (else Confluent's per-message Consume); known once started.</summary>
    internal bool UsesBatchConsume => _native is not null;

    /// <summary>The partitions this reader owns.</summary>
    public IReadOnlyList<TopicPartition> Assignment => _owned;

    public void TrackEventTime(int column)
    {
        _eventTimeColumn = column;
        _rowSplit = new int[Math.Max(16, _options.BatchSize)];
        _splitMax = new long[_owned.Count];
        System.Array.Fill(_splitMax, long.MinValue);
        _caughtUp = new bool[_owned.Count];
    }

    public long EventTimeFloor
    {
        get
        {
            long min = long.MaxValue, max = long.MinValue;
            var pending = false;
            for (var k = 0; k < _splitMax.Length; k++)
            {
                if (_splitMax[k] > max) max = _splitMax[k];
                if (_caughtUp[k]) continue;
                pending = true;
                if (_splitMax[k] < min) min = _splitMax[k];
            }
            return pending ? min : max;
        }
    }

    public void RestorePosition(ReadOnlySpan<byte> position)
    {
        if (_started) throw new InvalidOperationException("RestorePosition must be called before the first read");
        _restored = KafkaPosition.Decode(position, _source.Name);
    }

    public ValueTask<Batch?> ReadNextBatchAsync(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (!_started) Start();
        // A bounded read ends once every owned partition is read up to its stop offset (at once when it owns none).
        if (_options.Stop == KafkaStop.Latest && _open == 0) return new ValueTask<Batch?>((Batch?)null);
        if (_consumer is null)
        {
            // This reader owns no partition (more readers than partitions): idle, but let checkpoints pass.
            return IdleAsync(ct);
        }
        var limit = _options.BatchSize;
        var deadline = Stopwatch.GetTimestamp() + (long)(_options.PollTimeout.TotalSeconds * Stopwatch.Frequency);
        if (_native is not null) ReadNative(limit, deadline, ct);
        else ReadPerMessage(limit, deadline, ct);
        return new ValueTask<Batch?>(BuildBatch());
    }

    /// <summary>Milliseconds left until <paramref name="deadline"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    private static int MillisecondsUntil(long deadline) => (int)Math.Ceiling((deadline - Stopwatch.GetTimestamp()) * 1000.0 / Stopwatch.Frequency);

    // Once a message is consumed its offset is part of the position, so a read never throws away rows it has
    // taken: cancellation (a graceful stop) ends the batch early instead of throwing.
    private void ReadPerMessage(int limit, long deadline, CancellationToken ct)
    {
        while (_data.Length < limit && !ct.IsCancellationRequested)
        {
            ThrowIfFatal();
            ConsumeResult<Ignore, DecodeStatus>? cr;
            var left = 0;
            try
            {
                // Drain what is already fetched without waiting (the common case: no clock read); wait (at most
                // 200 ms at a time, to stay responsive to cancellation) only while the batch is still open.
                cr = _consumer!.Consume(0);
                if (cr is null)
                {
                    left = MillisecondsUntil(deadline);
                    if (left > 0) cr = _consumer.Consume(Math.Min(left, 200));
                }
            }
            catch (ConsumeException e)
            {
                // A value decoder that cannot go on (the schema registry unreachable) must not lose the message: stop.
                if (e.InnerException is KafkaSourceException decoderFailure) throw decoderFailure;
                var tpo = e.ConsumerRecord?.TopicPartitionOffset;
                OnConsumeError(e.Error, tpo?.Topic, tpo?.Partition.Value ?? -1, e);
                continue;
            }
            if (cr is null)
            {
                if (left <= 0) break;
                continue;
            }
            if (cr.IsPartitionEOF) OnPartitionEof(IndexOf(cr.Topic, cr.Partition.Value), cr.Offset.Value);
            else if (cr.Message is not null) Accept(cr.Topic, cr.Partition.Value, cr.Offset.Value, cr.Message.Value, cr.Message.Timestamp, cr.Message.Headers);
            if (_stopAt is not null && _open == 0) break;
        }
    }

    /// <summary>The same loop over librdkafka's batch consume: messages are read in place and released once decoded.</summary>
    private unsafe void ReadNative(int limit, long deadline, CancellationToken ct)
    {
        var native = _native!;
        while (_data.Length < limit && !ct.IsCancellationRequested)
        {
            ThrowIfFatal();
            var n = native.Consume(0, limit - _data.Length);
            if (n == 0)
            {
                var left = MillisecondsUntil(deadline);
                if (left <= 0) break;
                // Wait for the first message only, then drain without waiting again (as the per-message loop does).
                if (native.Consume(Math.Min(left, 200), 1) == 0) continue;
                n = 1;
            }
            var i = 0;
            try
            {
                for (; i < n; i++)
                {
                    var m = native[i];
                    // An error of the whole client (fatal, group authorization) names no topic; errors that name
                    // one carry a short-lived topic handle, so only messages and EOFs go through the name cache.
                    var topic = _singleTopic || m->Rkt == 0 ? null
                        : m->Err is 0 or NativeBatchConsumer.PartitionEof ? native.TopicName(m->Rkt) : native.TopicNameUncached(m->Rkt);
                    if (m->Err == NativeBatchConsumer.PartitionEof)
                    {
                        OnPartitionEof(IndexOf(topic, m->Partition), m->Offset);
                    }
                    else if (m->Err != 0)
                    {
                        OnConsumeError(new Error((ErrorCode)m->Err, native.ErrorText(m)), topic ?? _owned[0].Topic, m->Rkt == 0 ? -1 : m->Partition, null);
                    }
                    else
                    {
                        _keys?.Deserialize(m->Key == null ? default : new ReadOnlySpan<byte>(m->Key, (int)m->KeyLen), m->Key == null, default);
                        var status = _values.Deserialize(m->Payload == null ? default : new ReadOnlySpan<byte>(m->Payload, (int)m->Len), m->Payload == null, default);
                        Accept(topic, m->Partition, m->Offset, status,
                            _needTimestamp ? native.Timestamp(m) : default,
                            _needHeaders ? native.Headers(m) : null);
                    }
                    native.ReleaseOne(i);
                }
            }
            finally
            {
                // A failure (a fatal error, a decoder that cannot go on) leaves the rest unread: released, not lost
                // (their offsets are not in the position, so the restart reads them again).
                native.Release(i);
            }
            if (_stopAt is not null && _open == 0) break;
        }
    }

    private void OnPartitionEof(int k, long offset)
    {
        if (k < 0) return;
        if (_eventTimeColumn >= 0) _caughtUp[k] = true;
        // Offsets below the stop that carry no message (transaction markers) end a bounded read here.
        if (_stopAt is not null && offset >= _stopAt[k]) Finish(k);
    }

    private async ValueTask<Batch?> IdleAsync(CancellationToken ct)
    {
        await Task.Delay(_options.PollTimeout, ct).ConfigureAwait(false);
        return BuildBatch();
    }

    private void Accept(string? topicName, int partition, long offset, DecodeStatus status, Timestamp timestamp, Headers? headers)
    {
        var k = IndexOf(topicName, partition);
        if (k < 0) return; // not ours (cannot happen with a manual assignment; defensive)
        if (_stopAt is not null && offset >= _stopAt[k])
        {
            // Produced after a bounded read started: not part of it. Its value is already decoded into the batch.
            if (status == DecodeStatus.Ok) _data.Truncate(_data.Length - 1);
            Finish(k);
            return;
        }
        _next[k] = offset + 1;
        if (_stopAt is not null && offset + 1 >= _stopAt[k]) Finish(k);
        var topic = _owned[k].Topic;
        if (status != DecodeStatus.Ok)
        {
            DeadLetter(topic, partition, offset, _values.ErrorClass, _values.ErrorMessage, _values.Raw);
            return;
        }
        if (_eventTimeColumn >= 0)
        {
            _caughtUp[k] = _stopAt is not null && _done[k]; // a finished partition no longer holds the watermark back
            var row = _data.Length - 1;
            if (row >= _rowSplit.Length) System.Array.Resize(ref _rowSplit, _rowSplit.Length * 2);
            _rowSplit[row] = k;
        }
        if (_meta is null) return;
        for (var c = 0; c < _metaColumns.Length; c++)
        {
            var col = _meta[c];
            switch (_metaColumns[c])
            {
                case MetaColumn.Key:
                    // The value decoder already rejected keys that are not UTF-8.
                    if (_keys!.IsNull) col.AppendNull();
                    else col.AppendUtf8(_keys.Bytes);
                    break;
                case MetaColumn.Topic:
                    col.AppendString(topic);
                    break;
                case MetaColumn.Partition:
                    col.AppendInt32(partition);
                    break;
                case MetaColumn.Offset:
                    col.AppendInt64(offset);
                    break;
                case MetaColumn.Timestamp:
                    if (timestamp.Type == TimestampType.NotAvailable) col.AppendNull();
                    else col.AppendInt64(timestamp.UnixTimestampMs * 1000);
                    break;
                case MetaColumn.Headers:
                    AppendHeaders(col, headers);
                    break;
            }
        }
    }

    /// <summary>
    /// Headers as JSON text: <c>[{"key":"k","value":"v"}, …]</c> in message order (keys may repeat); a value
    /// that is not UTF-8 is written as <c>"value_base64"</c>, a null value as <c>"value":null</c>; <c>[]</c> when none.
    /// </summary>
    private void AppendHeaders(ColumnBuilder col, Headers? headers)
    {
        if (headers is null || headers.Count == 0)
        {
            col.AppendUtf8("[]"u8);
            return;
        }
        _headerBuffer ??= new ArrayBufferWriter();
        _headerBuffer.Clear();
        _headerWriter ??= new Utf8JsonWriter(_headerBuffer, HeaderJson);
        _headerWriter.Reset(_headerBuffer);
        var w = _headerWriter;
        {
            w.WriteStartArray();
            foreach (var h in headers)
            {
                w.WriteStartObject();
                w.WriteString("key"u8, h.Key);
                var v = h.GetValueBytes();
                if (v is null) w.WriteNull("value"u8);
                else if (Utf8.IsValid(v)) w.WriteString("value"u8, v);
                else w.WriteBase64String("value_base64"u8, v);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.Flush();
        }
        col.AppendUtf8(_headerBuffer.WrittenSpan);
    }

    private void DeadLetter(string topic, int partition, long offset, string errorClass, string error, byte[] raw)
    {
        _context.DeadLetters.Write(new DeadLetter
        {
            Source = _source.Name,
            Position =
            [
                new("topic", topic),
                new("partition", partition),
                new("offset", offset),
            ],
            ErrorClass = errorClass,
            Error = error,
            Raw = raw,
        });
        Interlocked.Increment(ref _context.Metrics.DeadLetters);
        _context.Metrics.DeadLetterCount.Add(1, _metricTags);
    }

    /// <summary>A bounded read has read partition <paramref name="k"/> up to its stop offset: its position is the stop; stop fetching it.</summary>
    private void Finish(int k)
    {
        if (_done[k]) return;
        _done[k] = true;
        _open--;
        if (_eventTimeColumn >= 0) _caughtUp[k] = true;
        // Partitions are delivered in order, so every offset below the stop has been seen.
        _next[k] = Math.Max(_next[k], _stopAt![k]);
        try
        {
            _consumer?.Pause([_owned[k]]);
        }
        catch (KafkaException e)
        {
            // Messages fetched later are dropped by the stop check; pausing only saves the fetches.
            KafkaLog.TransientError(_logger, _source.Name, e.Error.ToString());
        }
    }

    private int IndexOf(string? topic, int partition)
    {
        if (_singleTopic) return (uint)partition < (uint)_slotOfPartition.Length ? _slotOfPartition[partition] : -1;
        var t = _singleTopic || topic is null ? 0 : _topicIndex.GetValueOrDefault(topic, -1);
        if (t < 0) return -1;
        // Few partitions per reader: a linear scan beats hashing a boxed key.
        for (var k = 0; k < _owned.Count; k++)
        {
            var tp = _owned[k];
            if (tp.Partition.Value == partition && (_singleTopic || tp.Topic == _options.Topics[t])) return k;
        }
        return -1;
    }

    private Batch BuildBatch()
    {
        var batch = BuildBatchCore();
        if (_eventTimeColumn >= 0 && batch.Length > 0 && batch.Column(_eventTimeColumn) is PrimitiveArray<long> times)
        {
            var values = times.Values;
            for (var i = 0; i < values.Length; i++)
                if ((times.NullCount == 0 || times.IsValid(i)) && values[i] > _splitMax[_rowSplit[i]]) _splitMax[_rowSplit[i]] = values[i];
        }
        return batch;
    }

    private Batch BuildBatchCore()
    {
        var data = _data.Build();
        if (_meta is null) return data;
        var meta = _meta.Build();
        var arrays = new IArrowArray[data.Data.ColumnCount + meta.Data.ColumnCount];
        for (var c = 0; c < data.Data.ColumnCount; c++) arrays[c] = data.Column(c);
        for (var c = 0; c < meta.Data.ColumnCount; c++) arrays[data.Data.ColumnCount + c] = meta.Column(c);
        var combined = new Batch(new RecordBatch(_source.Schema, arrays, data.Length));
        combined.DependOn(data);
        combined.DependOn(meta);
        data.Dispose();
        meta.Dispose();
        return combined;
    }

    public byte[] SnapshotPosition()
    {
        if (!_started)
        {
            // Not started yet: keep what was restored (nothing read since).
            return KafkaPosition.Encode(_restored?.Select(kv => (kv.Key.Topic, kv.Key.Partition.Value, kv.Value)) ?? []);
        }
        _snapshot = (long[])_next.Clone();
        return KafkaPosition.Encode(_owned.Select((tp, k) => (tp.Topic, tp.Partition.Value, _next[k])).Where(x => x.Item3 >= 0));
    }

    public ValueTask OnCheckpointCompleteAsync(long checkpointId, CancellationToken ct)
    {
        // The checkpoint that completed is the one whose barrier took the last snapshot: checkpoints do not
        // overlap and completion is delivered before the next barrier.
        if (_consumer is null || _snapshot is null) return default;
        var offsets = new List<TopicPartitionOffset>();
        for (var k = 0; k < _snapshot.Length; k++)
            if (_snapshot[k] >= 0 && _snapshot[k] != _committed[k]) offsets.Add(new TopicPartitionOffset(_owned[k], new Offset(_snapshot[k])));
        if (offsets.Count == 0) return default;
        try
        {
            _consumer.Commit(offsets);
            for (var k = 0; k < _snapshot.Length; k++) _committed[k] = _snapshot[k];
        }
        catch (KafkaException e) when (!e.Error.IsFatal)
        {
            // The checkpoint holds the positions; committed offsets only serve monitoring and fresh starts.
            KafkaLog.CommitFailed(_logger, _source.Name, checkpointId, e.Error.ToString());
        }
        return default;
    }

    /// <summary>Creates the consumer, resolves each partition's start offset and assigns them.</summary>
    private void Start()
    {
        _started = true;
        if (_options.Stop == KafkaStop.Latest)
        {
            _stopAt = new long[_owned.Count];
            _done = new bool[_owned.Count];
            _open = _owned.Count;
        }
        if (_owned.Count == 0) return;
        var clientId = $"aietl-{_context.Metrics.Pipeline}-{_source.Name}-{_context.Task.Index}";
        try
        {
            _consumer = new ConsumerBuilder<Ignore, DecodeStatus>(KafkaConfig.Consumer(_options, clientId, !_singleTopic))
                .SetKeyDeserializer(_keys ?? (IDeserializer<Ignore>)Deserializers.Ignore)
                .SetValueDeserializer(_values)
                .SetLogHandler((_, m) => KafkaConfig.Log(_logger, m))
                .SetErrorHandler((_, e) => OnClientError(e))
                .Build();
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or KafkaException)
        {
            // librdkafka checks its configuration only when the client is created.
            throw new KafkaSourceException($"kafka source '{_source.Name}': invalid consumer configuration (properties): {e.Message}", e);
        }

        var start = new long[_owned.Count];
        var fromCommitted = new bool[_owned.Count];
        var restoring = _restored is not null;
        System.Array.Fill(start, -1);
        var needCommitted = false;
        for (var k = 0; k < _owned.Count; k++)
        {
            if (_restored?.TryGetValue(_owned[k], out var o) == true) start[k] = o;
            else needCommitted |= restoring || _options.Start == KafkaStart.Committed;
        }
        if (needCommitted)
        {
            // A partition missing from a restored position (added to the topic, or owned by another reader
            // before a parallelism change) continues from the group's committed offset, else the earliest.
            List<TopicPartitionOffset> committed;
            try
            {
                committed = _consumer.Committed(_owned.Where((_, k) => start[k] < 0), _options.RequestTimeout);
            }
            catch (KafkaException e)
            {
                throw new KafkaSourceException($"kafka source '{_source.Name}': reading the committed offsets of group '{_options.Group}' failed: {e.Error.Reason}", e);
            }
            foreach (var c in committed)
            {
                var k = _owned.IndexOf(c.TopicPartition);
                if (k >= 0 && c.Offset.Value >= 0)
                {
                    start[k] = c.Offset.Value;
                    fromCommitted[k] = true;
                    _committed[k] = c.Offset.Value;
                }
            }
        }
        var byTime = !restoring && _options.Start == KafkaStart.Timestamp ? OffsetsForTime(start) : null;
        var assignment = new List<TopicPartitionOffset>(_owned.Count);
        for (var k = 0; k < _owned.Count; k++)
        {
            var tp = _owned[k];
            var wm = QueryWatermarks(tp);
            long offset;
            if (start[k] >= 0)
            {
                offset = CheckInRange(tp, start[k], wm, restoring && !fromCommitted[k] ? "checkpoint" : "committed offset");
            }
            else if (byTime is not null)
            {
                // No message at or after the time: the end of the partition (only newer messages are read).
                var t = byTime[k];
                offset = t < 0 ? wm.High.Value : Math.Clamp(t, wm.Low.Value, wm.High.Value);
            }
            else
            {
                offset = restoring || _options.Start != KafkaStart.Latest ? wm.Low.Value : wm.High.Value;
            }
            _next[k] = offset;
            if (_stopAt is not null)
            {
                _stopAt[k] = wm.High.Value;
                if (offset >= _stopAt[k])
                {
                    // Nothing to read here (empty, or already read up to the end): not assigned at all.
                    _done[k] = true;
                    _open--;
                    if (_eventTimeColumn >= 0) _caughtUp[k] = true;
                    continue;
                }
            }
            assignment.Add(new TopicPartitionOffset(tp, new Offset(offset)));
        }
        _consumer.Assign(assignment);
        _native = NativeBatchConsumer.TryCreate(_consumer, Math.Min(_options.BatchSize, 4096), _options.PerMessageConsume, out var perMessage);
        if (perMessage is not null) KafkaLog.PerMessageConsume(_logger, _source.Name, perMessage);
        KafkaLog.Assigned(_logger, _source.Name, _context.Task.ToString(), string.Join(", ", assignment.Select(a => $"{a.Topic}[{a.Partition.Value}]@{a.Offset.Value}")));
    }

    /// <summary>
    /// <c>start: timestamp</c>: each owned partition's first offset whose message timestamp is at or after the start
    /// time (Kafka's ListOffsets by time), or -1 when there is none.
    /// </summary>
    private long[] OffsetsForTime(long[] start)
    {
        var ms = _options.StartTimestamp!.Value.ToUnixTimeMilliseconds();
        var result = new long[_owned.Count];
        System.Array.Fill(result, -1);
        var query = _owned.Where((_, k) => start[k] < 0).Select(tp => new TopicPartitionTimestamp(tp, new Timestamp(ms, TimestampType.CreateTime))).ToList();
        if (query.Count == 0) return result;
        List<TopicPartitionOffset> found;
        try
        {
            found = _consumer!.OffsetsForTimes(query, _options.RequestTimeout);
        }
        catch (KafkaException e)
        {
            throw new KafkaSourceException($"kafka source '{_source.Name}': looking up the offsets at {_options.StartTimestamp:O} failed: {e.Error.Reason}", e);
        }
        foreach (var f in found)
        {
            var k = _owned.IndexOf(f.TopicPartition);
            if (k >= 0) result[k] = f.Offset.Value;
        }
        return result;
    }

    private WatermarkOffsets QueryWatermarks(TopicPartition tp)
    {
        try
        {
            return _consumer!.QueryWatermarkOffsets(tp, _options.RequestTimeout);
        }
        catch (KafkaException e)
        {
            throw new KafkaSourceException($"kafka source '{_source.Name}': querying the offsets of {tp.Topic} partition {tp.Partition.Value} failed: {e.Error.Reason}", e);
        }
    }

    /// <summary>
    /// An offset below the partition's low watermark was deleted (retention); one above the high watermark
    /// does not exist (the topic was recreated). Either fails naming the partition and range, or resets.
    /// </summary>
    private long CheckInRange(TopicPartition tp, long offset, WatermarkOffsets wm, string from)
    {
        var low = wm.Low.Value;
        var high = wm.High.Value;
        if (offset >= low && offset <= high) return offset;
        if (offset < low)
        {
            if (!_options.ResetOnOffsetOutOfRange)
                throw new KafkaSourceException(
                    $"kafka source '{_source.Name}': {tp.Topic} partition {tp.Partition.Value}: the {from} is at offset {offset}, but the broker keeps only offsets {low}..{high - 1}: " +
                    $"offsets {offset}..{low - 1} ({low - offset} messages) were deleted before they were read. Set on_offset_out_of_range: reset to skip them, or start fresh");
            KafkaLog.OffsetReset(_logger, _source.Name, tp.Topic, tp.Partition.Value, offset, low - 1, low, low - offset);
            return low;
        }
        if (!_options.ResetOnOffsetOutOfRange)
            throw new KafkaSourceException(
                $"kafka source '{_source.Name}': {tp.Topic} partition {tp.Partition.Value}: the {from} is at offset {offset}, beyond the end of the partition (offsets {low}..{high - 1}); " +
                "was the topic deleted and recreated? Set on_offset_out_of_range: reset to start from its earliest offset, or start fresh");
        KafkaLog.OffsetReset(_logger, _source.Name, tp.Topic, tp.Partition.Value, offset, offset, low, 0);
        return low;
    }

    private void OnConsumeError(Error err, string? topic, int partition, Exception? inner)
    {
        if (err.Code == ErrorCode.Local_AutoOffsetReset)
        {
            // auto.offset.reset=error: retention deleted data this reader had not read yet.
            var k = partition < 0 ? -1 : IndexOf(topic ?? _owned[0].Topic, partition);
            if (k >= 0)
            {
                var tp = _owned[k];
                var wm = QueryWatermarks(tp);
                CheckInRange(tp, _next[k], wm, "next offset");
            }
            throw new KafkaSourceException($"kafka source '{_source.Name}': {err.Reason}", inner);
        }
        if (err.IsFatal || err.Code == ErrorCode.Local_Fatal) throw new KafkaSourceException($"kafka source '{_source.Name}': fatal consumer error: {err}", inner);
        KafkaLog.TransientError(_logger, _source.Name, err.ToString());
    }

    private void OnClientError(Error e)
    {
        // Called on librdkafka's thread; the read loop picks the failure up.
        if (e.IsFatal) Interlocked.CompareExchange(ref _fatal, new KafkaSourceException($"kafka source '{_source.Name}': fatal client error: {e}"), null);
        else KafkaLog.ClientError(_logger, $"source '{_source.Name}'", e.ToString());
    }

    private void ThrowIfFatal()
    {
        if (Volatile.Read(ref _fatal) is { } f) throw f;
    }

    public ValueTask DisposeAsync()
    {
        // The batch path holds the consumer queue and a reference on the client: released before the client closes.
        _native?.Dispose();
        _native = null;
        if (_consumer is { } c)
        {
            _consumer = null;
            try
            {
                c.Close();
            }
            catch (KafkaException)
            {
                // Closing an assign-only consumer leaves no group to notify; nothing is lost.
            }
            finally
            {
                c.Dispose();
            }
        }
        _data.Dispose();
        _meta?.Dispose();
        _headerWriter?.Dispose();
        if (_holdsSchemas)
        {
            _holdsSchemas = false;
            _source.ReleaseAvroSchemas();
        }
        return default;
    }

    /// <summary>Outcome of decoding one value (Confluent hands the value deserializer's result back per message).</summary>
    internal enum DecodeStatus : byte { Ok, Failed }

    /// <summary>
    /// Decodes each value straight into the batch builder from librdkafka's buffer. Confluent deserializes
    /// the key first, so a key the <c>_key</c> column cannot hold is known before the value is decoded.
    /// </summary>
    private sealed class ValueDecoder(JsonRowDecoder decoder, BatchBuilder builder, KeyCapture? keys) : IKafkaValueDecoder
    {
        public JsonDecodeError Error;
        public byte[] Raw { get; private set; } = [];
        public string ErrorClass => Error.ErrorClass;
        public string ErrorMessage => Error.Message;

        public DecodeStatus Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
        {
            if (isNull)
            {
                Error = new JsonDecodeError(JsonErrorKind.Syntax, 0, null, "the message has no value (a tombstone)");
                Raw = [];
                return DecodeStatus.Failed;
            }
            if (keys is { IsValid: false })
            {
                Error = new JsonDecodeError(JsonErrorKind.Encoding, 0, "_key", "the message key is not valid UTF-8 (the _key column holds text)");
                Raw = data.ToArray();
                return DecodeStatus.Failed;
            }
            if (decoder.TryDecode(data, builder, out Error)) return DecodeStatus.Ok;
            Raw = data.ToArray();
            return DecodeStatus.Failed;
        }
    }

    /// <summary>Copies the key into a reused buffer for the <c>_key</c> column.</summary>
    internal sealed class KeyCapture : IDeserializer<Ignore>
    {
        private byte[] _buf = new byte[256];
        private int _length;

        public bool IsNull { get; private set; }
        public bool IsValid { get; private set; } = true;
        public ReadOnlySpan<byte> Bytes => _buf.AsSpan(0, _length);

        public Ignore Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
        {
            IsNull = isNull;
            IsValid = isNull || Utf8.IsValid(data);
            if (_buf.Length < data.Length) _buf = new byte[data.Length * 2];
            data.CopyTo(_buf);
            _length = data.Length;
            return null!;
        }
    }

    /// <summary>A growable byte buffer for <see cref="Utf8JsonWriter"/>.</summary>
    private sealed class ArrayBufferWriter : System.Buffers.IBufferWriter<byte>
    {
        private byte[] _buf = new byte[256];
        private int _len;

        public ReadOnlySpan<byte> WrittenSpan => _buf.AsSpan(0, _len);
        public void Clear() => _len = 0;
        public void Advance(int count) => _len += count;

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            Ensure(sizeHint);
            return _buf.AsMemory(_len);
        }

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            Ensure(sizeHint);
            return _buf.AsSpan(_len);
        }

        private void Ensure(int sizeHint)
        {
            var need = _len + Math.Max(sizeHint, 1);
            if (need > _buf.Length) System.Array.Resize(ref _buf, Math.Max(need, _buf.Length * 2));
        }
    }
}
