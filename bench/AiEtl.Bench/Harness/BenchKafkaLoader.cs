using System.Diagnostics;
using AiEtl.Engine.Runtime;
using Confluent.Kafka;

namespace AiEtl.Bench.Harness;

/// <summary>
/// What the Kafka scenarios share: loading a topic of the mock broker in full producer batches, checking what it
/// holds, and running an engine job over an unbounded topic until every message has been read.
/// </summary>
public sealed class BenchKafkaLoader : IDisposable
{
    private readonly IProducer<Null, byte[]> _producer;
    private readonly Action<DeliveryReport<Null, byte[]>> _onDelivery;
    private long _failed;

    public BenchKafkaLoader(string brokers)
    {
        _producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig
        {
            BootstrapServers = brokers,
            LingerMs = 20,
            BatchNumMessages = 10_000,
            BatchSize = 4 << 20,
            QueueBufferingMaxMessages = 1_000_000,
            QueueBufferingMaxKbytes = 512 * 1024,
            Acks = Acks.Leader,
        }).Build();
        _onDelivery = r => { if (r.Error.IsError) Interlocked.Increment(ref _failed); };
    }

    /// <summary>Queues one message, waiting while the producer's queue is full.</summary>
    public void Produce(TopicPartition tp, byte[] value)
    {
        var msg = new Message<Null, byte[]> { Value = value };
        while (true)
        {
            try
            {
                _producer.Produce(tp, msg, _onDelivery);
                return;
            }
            catch (ProduceException<Null, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                _producer.Poll(TimeSpan.FromMilliseconds(10));
            }
        }
    }

    /// <summary>Waits until every message is acknowledged; throws if any was not.</summary>
    public void Finish()
    {
        if (_producer.Flush(TimeSpan.FromMinutes(5)) != 0) throw new InvalidOperationException("loading: messages still unsent after 5 minutes");
        if (Interlocked.Read(ref _failed) != 0) throw new InvalidOperationException($"loading: {_failed:N0} messages failed");
    }

    public void Dispose() => _producer.Dispose();

    /// <summary>Messages per partition of <paramref name="topic"/> from the broker's watermarks (each partition must start at offset 0).</summary>
    public static long[] PartitionCounts(string brokers, string topic, int partitions)
    {
        using var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = brokers, GroupId = "bench-watermarks" }).Build();
        var counts = new long[partitions];
        for (var p = 0; p < partitions; p++)
        {
            var wm = c.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(30));
            if (wm.Low.Value != 0) throw new InvalidOperationException($"{topic} partition {p} starts at offset {wm.Low.Value}: the mock broker dropped messages (more partitions needed)");
            counts[p] = wm.High.Value;
        }
        return counts;
    }

    /// <summary>
    /// Waits for <paramref name="job"/>; over an unbounded topic (<paramref name="stopWhenRead"/>) stops it gracefully
    /// once <paramref name="read"/> reaches <paramref name="expected"/>. A job that reads nothing for 2 minutes is
    /// aborted and reported as a timeout naming <paramref name="who"/>.
    /// </summary>
    public static JobResult RunUntilRead(Task<JobResult> job, Func<long> read, long expected, bool stopWhenRead, CancellationTokenSource stop,
        CancellationTokenSource abort, string who, int pollMs)
    {
        var lastRows = -1L;
        var lastProgress = Stopwatch.StartNew();
        while (!job.IsCompleted)
        {
            var n = read();
            if (n >= expected && stopWhenRead)
            {
                stop.Cancel();
                break;
            }
            if (n != lastRows)
            {
                lastRows = n;
                lastProgress.Restart();
            }
            else if (lastProgress.Elapsed > TimeSpan.FromMinutes(2))
            {
                abort.Cancel();
                throw new TimeoutException($"{who}: no progress for 2 minutes at {n:N0} of {expected:N0}");
            }
            Thread.Sleep(pollMs);
        }
        return job.GetAwaiter().GetResult();
    }
}
