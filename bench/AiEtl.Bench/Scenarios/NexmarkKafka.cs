using AiEtl.Bench.Harness;
using System.Diagnostics;
using AiEtl.Engine;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Connectors.Files;
using AiEtl.Engine.Connectors.Nexmark;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Confluent.Kafka;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// The realistic path of Nexmark: the generator's events encoded as JSON (the engine's JSON-lines encoder, one
/// object per message) and preloaded into a Kafka-protocol broker, one topic per stream (<c>person</c>,
/// <c>auction</c>, <c>bid</c>); each query then runs as a pipeline planned from YAML (Kafka source with the bid
/// schema declared and <c>date_time</c> as event time → SQL → null sink), stopped gracefully once every bid has
/// been read (open windows are emitted at the stop, as at the end of bounded input), or — for the queries that
/// group without a window — read bounded (<c>stop: latest</c>), ending by itself at the end of the topic.
/// </summary>
public static class NexmarkKafka
{
    public static readonly (string Topic, NexmarkStream Stream)[] Streams =
        [("person", NexmarkStream.Person), ("auction", NexmarkStream.Auction), ("bid", NexmarkStream.Bid)];

    /// <summary>The mock broker keeps ≈5 MiB per partition: one partition per 4 MiB of messages (with a margin).</summary>
    public const long BytesPerPartition = 4L << 20;

    private const int Chunk = 16_384;

    /// <summary>Partitions per stream for <paramref name="events"/> events, from the encoded size of a sample.</summary>
    public static int[] PartitionsFor(long events)
    {
        var result = new int[Streams.Length];
        var sample = (int)Math.Min(events, 50_000);
        for (var s = 0; s < Streams.Length; s++)
        {
            var source = Source(Streams[s].Stream, events);
            long rows = 0, bytes = 0;
            ForEachMessage(source, 0, sample, (_, m) => { rows++; bytes += m.Length; });
            var avg = rows == 0 ? 256 : (double)bytes / rows;
            var total = avg * Fraction(Streams[s].Stream) * events;
            result[s] = (int)Math.Max(2, Math.Ceiling(total * 1.15 / BytesPerPartition));
        }
        return result;
    }

    private static double Fraction(NexmarkStream stream) => stream switch
    {
        NexmarkStream.Person => 1 / 50.0,
        NexmarkStream.Auction => 3 / 50.0,
        _ => 46 / 50.0,
    };

    private static NexmarkSource Source(NexmarkStream stream, long events) =>
        new(new NexmarkOptions { Name = stream.ToString().ToLowerInvariant(), Stream = stream, Events = events });

    /// <summary>Encodes the stream's rows of event numbers [first, first + count) as JSON; calls back per row (index within the call, bytes).</summary>
    private static void ForEachMessage(NexmarkSource source, long first, long count, Action<long, ReadOnlyMemory<byte>> onMessage)
    {
        var encoder = new JsonLinesEncoder(source.Schema);
        using var buffer = new ByteBuffer(4 << 20);
        long index = 0;
        for (var at = first; at < first + count; at += Chunk)
        {
            using var batch = source.Generate(at, (int)Math.Min(Chunk, first + count - at));
            buffer.Clear();
            encoder.Encode(batch, buffer);
            var all = buffer.Memory;
            var start = 0;
            var span = all.Span;
            for (var i = 0; i < span.Length; i++)
            {
                if (span[i] != (byte)'\n') continue;
                onMessage(index++, all[start..i]);
                start = i + 1;
            }
        }
    }

    /// <summary>Produces every stream's rows of <paramref name="events"/> events, runs of 256 per partition; returns rows per stream.</summary>
    public static long[] Load(string brokers, long events, int[] partitions)
    {
        using var loader = new BenchKafkaLoader(brokers);
        var rows = new long[Streams.Length];
        for (var s = 0; s < Streams.Length; s++)
        {
            var (topic, stream) = Streams[s];
            var n = partitions[s];
            ForEachMessage(Source(stream, events), 0, events, (i, m) =>
            {
                rows[s]++;
                loader.Produce(new TopicPartition(topic, (int)(i / 256 % n)), m.ToArray());
            });
        }
        loader.Finish();
        return rows;
    }

    /// <summary>The pipeline: Kafka source <c>bid</c> (JSON, bid schema declared, event time <c>date_time</c>) → <paramref name="sql"/> → null.</summary>
    public static string Yaml(string brokers, string group, string sql, int parallelism, bool bounded = false)
    {
        var schema = string.Join("\n", NexmarkSchemas.Bid.FieldsList.Select(f =>
            $"      {f.Name}: {{ type: {ColumnTypes.Name(ColumnTypes.FromArrow(f.DataType))}{(f.IsNullable ? "" : ", required: true")} }}"));
        var body = string.Join("\n", sql.Replace("\r", "", StringComparison.Ordinal).Split('\n').Select(l => "  " + l));
        return $$"""
            name: nexmark-kafka
            sources:
              bid:
                kafka:
                  brokers: "{{brokers}}"
                  topic: bid
                  group: {{group}}
                  format: json
                  start: earliest
                  stop: {{(bounded ? "latest" : "never")}}
                  batch_size: 8192
                schema:
            {{schema}}
                event_time: { column: date_time }
            transform: |
            {{body}}
            sink:
              null: {}
            parallelism: {{parallelism}}
            """;
    }

    /// <summary>Null when the query plans over the Kafka source (unbounded, or bounded with <c>stop: latest</c>), else the planner's reason.</summary>
    public static string? PlanError(string brokers, string sql, int parallelism, bool bounded = false)
    {
        var loaded = PipelineSpecLoader.LoadFromString(Yaml(brokers, "plan-check", sql, parallelism, bounded), "nexmark-kafka.yaml");
        if (!loaded.IsValid) throw new InvalidOperationException("nexmark kafka pipeline spec invalid: " + string.Join("; ", loaded.FormatErrors()));
        try
        {
            Planner.Plan(loaded.Spec!, KafkaConnectors.Register(BuiltinConnectors.Create()));
            return null;
        }
        catch (PlanException e)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// Runs one query over the whole bid topic (<paramref name="bids"/> messages); returns the rows the sink received.
    /// Unbounded, it is stopped once every bid is read; <paramref name="bounded"/> (<c>stop: latest</c>), it ends by itself.
    /// </summary>
    public static long Run(string brokers, string group, string sql, int parallelism, long bids, bool bounded = false)
    {
        var loaded = PipelineSpecLoader.LoadFromString(Yaml(brokers, group, sql, parallelism, bounded), "nexmark-kafka.yaml");
        if (!loaded.IsValid) throw new InvalidOperationException("nexmark kafka pipeline spec invalid: " + string.Join("; ", loaded.FormatErrors()));
        var plan = Planner.Plan(loaded.Spec!, KafkaConnectors.Register(BuiltinConnectors.Create()));
        using var metrics = new EngineMetrics("nexmark-kafka");
        var letters = new CountingLetters();
        var options = new JobOptions { DeadLetters = letters, Metrics = metrics };
        using var stop = new CancellationTokenSource();
        using var abort = new CancellationTokenSource();
        var job = new JobRunner(plan.Graph, options).RunAsync(stop.Token, abort.Token);
        // The source is unbounded: stop gracefully once every bid has been read (the stop emits open windows).
        var result = BenchKafkaLoader.RunUntilRead(job, () => Interlocked.Read(ref metrics.SourceRows) + letters.Count, bids, !bounded, stop, abort, "nexmark kafka (bids)", 1);
        if (letters.Count != 0) throw new ResultMismatchException($"nexmark kafka: {letters.Count:N0} bids went to the dead letters (first: {letters.First})");
        if (result.SourceRows != bids) throw new ResultMismatchException($"nexmark kafka: read {result.SourceRows:N0} bids, the topic holds {bids:N0}");
        return result.SinkRows;
    }

    private sealed class CountingLetters : IDeadLetterOutput
    {
        private long _count;
        public long Count => Interlocked.Read(ref _count);
        public string? First { get; private set; }

        public void Write(DeadLetter letter)
        {
            if (Interlocked.Increment(ref _count) == 1) First = letter.Error;
        }

        public ValueTask FlushAsync(CancellationToken ct) => default;
        public ValueTask DisposeAsync() => default;
    }
}
