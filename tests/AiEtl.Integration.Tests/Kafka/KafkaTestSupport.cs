using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using AiEtl.Engine;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Confluent.Kafka;

namespace AiEtl.Integration.Tests.Kafka;

/// <summary>Dead letters kept in memory.</summary>
public sealed class ListDeadLetters : IDeadLetterOutput
{
    public ConcurrentQueue<DeadLetter> Letters { get; } = new();
    public long Count => Letters.Count;
    public void Write(DeadLetter letter) => Letters.Enqueue(letter);
    public ValueTask FlushAsync(CancellationToken ct) => default;
    public ValueTask DisposeAsync() => default;
}

/// <summary>A sink that keeps every row it is given, as text (<c>a|b|c</c>), and the rows of completed checkpoints.</summary>
public sealed class CollectingSink(string name) : ISink
{
    public ConcurrentQueue<string> Written { get; } = new();
    public ConcurrentQueue<string> Committed { get; } = new();
    public string Name => name;
    public int MaxParallelism => 8;
    public ISinkWriter CreateWriter(Schema input, ConnectorContext context) => new Writer(this);

    private sealed class Writer(CollectingSink sink) : ISinkWriter
    {
        private readonly List<string> _open = [];
        public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => default;

        public ValueTask WriteAsync(Batch batch, CancellationToken ct)
        {
            foreach (var row in KafkaTestSupport.Rows(batch.Data))
            {
                sink.Written.Enqueue(row);
                _open.Add(row);
            }
            return default;
        }

        public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct)
        {
            foreach (var r in _open) sink.Committed.Enqueue(r);
            _open.Clear();
            return new ValueTask<byte[]?>((byte[]?)null);
        }

        public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;
        public ValueTask DisposeAsync() => default;
    }
}

internal static class KafkaTestSupport
{
    public static Schema OrdersSchema { get; } = new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("name", ColumnKind.String))
        .Field(ColumnTypes.Field("amount", ColumnKind.Float64))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp))
        .Build();

    public static byte[] Order(long id) => Encoding.UTF8.GetBytes(
        $"{{\"id\":{id},\"name\":\"n{id % 7}\",\"amount\":{(id % 1000) / 4.0},\"ts\":\"2026-01-01T00:00:{id % 60:00}Z\"}}");

    public static KafkaSourceOptions Options(string brokers, string topic, string group) => new()
    {
        Name = "orders",
        Brokers = brokers,
        Topics = [topic],
        Group = group,
        Schema = OrdersSchema,
        BatchSize = 1000,
        Start = KafkaStart.Earliest,
    };

    public static ConnectorContext Context(IDeadLetterOutput deadLetters, int index = 0, int parallelism = 1) => new()
    {
        Task = new TaskInfo { Pipeline = "test", Vertex = "source:orders", Index = index, Parallelism = parallelism },
        DeadLetters = deadLetters,
        Metrics = new EngineMetrics("test"),
    };

    /// <summary>Produces messages to explicit partitions and waits until all are acknowledged.</summary>
    public static void Produce(string brokers, string topic, IEnumerable<(int Partition, byte[] Value)> messages, Func<int, Message<byte[]?, byte[]>, Message<byte[]?, byte[]>>? decorate = null)
    {
        using var producer = new ProducerBuilder<byte[]?, byte[]>(new ProducerConfig { BootstrapServers = brokers, LingerMs = 5, EnableIdempotence = true }).Build();
        var failed = 0;
        var i = 0;
        foreach (var (p, v) in messages)
        {
            var m = new Message<byte[]?, byte[]> { Value = v };
            if (decorate != null) m = decorate(i, m);
            while (true)
            {
                try
                {
                    producer.Produce(new TopicPartition(topic, p), m, r => { if (r.Error.IsError) Interlocked.Increment(ref failed); });
                    break;
                }
                catch (ProduceException<byte[]?, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(20));
                }
            }
            i++;
        }
        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        Assert.Equal(0, failed);
    }

    /// <summary>Reads batches until <paramref name="rows"/> rows arrived (or the timeout); returns the rows as text.</summary>
    public static async Task<List<string>> ReadRowsAsync(ISourceReader reader, int rows, TimeSpan? timeout = null, Func<int, bool>? stopAfterBatch = null)
    {
        var result = new List<string>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        var batches = 0;
        while (result.Count < rows && DateTime.UtcNow < deadline)
        {
            using var batch = await reader.ReadNextBatchAsync(TestContext.Current.CancellationToken);
            Assert.NotNull(batch);
            result.AddRange(Rows(batch.Data));
            if (batch.Length > 0 && stopAfterBatch?.Invoke(++batches) == true) break;
        }
        return result;
    }

    public static IEnumerable<string> Rows(RecordBatch b)
    {
        for (var i = 0; i < b.Length; i++)
            yield return string.Join("|", Enumerable.Range(0, b.ColumnCount).Select(c => Value(b.Column(c), i)));
    }

    private static readonly int EpochDay = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;

    public static string Value(IArrowArray a, int i)
    {
        if (a.IsNull(i)) return "null";
        return a switch
        {
            Int64Array x => x.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
            Int32Array x => x.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
            DoubleArray x => x.GetValue(i)!.Value.ToString("R", CultureInfo.InvariantCulture),
            StringArray x => x.GetString(i),
            BooleanArray x => x.GetValue(i)!.Value ? "true" : "false",
            Date32Array x => DateOnly.FromDayNumber(EpochDay + x.Values[i]).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            TimestampArray x => DateTimeOffset.FromUnixTimeMilliseconds(0).AddTicks(x.GetValue(i)!.Value * 10).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
            _ => throw new NotSupportedException(a.GetType().Name),
        };
    }

    /// <summary>Reads a whole topic with a plain consumer (assign from the beginning) until <paramref name="count"/> messages.</summary>
    public static List<ConsumeResult<byte[]?, byte[]>> Drain(string brokers, string topic, int partitions, int count, TimeSpan? timeout = null)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]>(new ConsumerConfig
        {
            BootstrapServers = brokers,
            GroupId = "drain-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
        }).Build();
        consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var result = new List<ConsumeResult<byte[]?, byte[]>>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (result.Count < count && DateTime.UtcNow < deadline)
        {
            var cr = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (cr?.Message != null) result.Add(cr);
        }
        // Nothing more arrives shortly after (no duplicates beyond the expected count).
        var extra = consumer.Consume(TimeSpan.FromMilliseconds(300));
        if (extra?.Message != null) result.Add(extra);
        return result;
    }

    /// <summary>The group's committed offsets for partitions 0..n-1 (−1001 = none).</summary>
    public static long[] Committed(string brokers, string group, string topic, int partitions)
    {
        using var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = brokers, GroupId = group }).Build();
        var list = c.Committed(Enumerable.Range(0, partitions).Select(p => new TopicPartition(topic, p)), TimeSpan.FromSeconds(10));
        return list.OrderBy(x => x.Partition.Value).Select(x => x.Offset.Value).ToArray();
    }
}
