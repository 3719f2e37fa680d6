using AiEtl.Bench.Harness;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using AiEtl.Engine;
using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Json;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.TestSupport;
using Apache.Arrow;
using Confluent.Kafka;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// The engine side of <c>kafka-clickhouse</c>: a pipeline planned from YAML like any user's (Kafka source with the
/// columnar JSON decoder → filter → ClickHouse sink, MergeTree created by the sink, ORDER BY order_id), run until every
/// message of the topic has been read, then stopped gracefully (final checkpoint: the sink's last insert).
/// </summary>
public sealed class KafkaClickHouseEngine(string brokers, string topic, ClickHouseServer clickHouse, int parallelism, TimeSpan checkpointInterval)
{
    private int _run;

    /// <param name="table">The ClickHouse table, or null for a null sink (the source and decoder alone).</param>
    public string Yaml(string? table, DeliveryGuarantee delivery, string group) => $$"""
        name: kafka-clickhouse-bench
        source:
          kafka:
            brokers: "{{brokers}}"
            topic: {{topic}}
            group: {{group}}
            format: json
            start: earliest
            batch_size: 8192
          schema:
        {{KafkaClickHouseData.SchemaYaml("    ")}}
        # decode -> filter -> sink as the scenario prescribes; every generated row passes (qty is 1..20, amounts are
        # positive), so each contestant's table still holds all the rows the checksums compare
        transform:
          - filter: "qty > 0 AND amount > 0"
        sink:
          {{(table is null ? "null: {}" : $"clickhouse: {{ url: \"{clickHouse.HttpUrl}\", table: {table}, create_table: true, order_by: [order_id] }}")}}
        delivery: {{(delivery == DeliveryGuarantee.ExactlyOnce ? "exactly-once" : "at-least-once")}}
        parallelism: {{parallelism}}
        """;

    /// <summary>One run into a fresh table; returns the job's result (the caller checks the table afterwards).</summary>
    /// <param name="observed">With what <c>aietl run --metrics-port</c> adds at default settings (as <see cref="CoreEngine.Run"/>):
    /// console logging at Information (scopes on) and the Prometheus collector listening to every instrument of the run.</param>
    public JobResult Run(string? table, DeliveryGuarantee delivery, long rows, bool observed = false)
    {
        if (table != null) clickHouse.QueryAsync($"DROP TABLE IF EXISTS {table}").GetAwaiter().GetResult();
        var group = $"bench-{Environment.ProcessId}-{++_run}";
        var loaded = PipelineSpecLoader.LoadFromString(Yaml(table, delivery, group), "kafka-clickhouse-bench.yaml");
        if (!loaded.IsValid) throw new InvalidOperationException("bench pipeline spec invalid: " + string.Join("; ", loaded.FormatErrors()));
        var registry = ClickHouseConnectors.Register(KafkaConnectors.Register(BuiltinConnectors.Create()));
        var plan = Planner.Plan(loaded.Spec!, registry);
        using var metrics = new EngineMetrics("kafka-clickhouse-bench");
        using var exposition = observed ? new AiEtl.Engine.Hosting.PrometheusExposition(metrics) : null;
        var options = new JobOptions
        {
            LoggerFactory = observed ? CoreEngine.SharedLogging.Value : null,
            DeadLetters = new FailingDeadLetters(),
            Metrics = metrics,
            CheckpointInterval = checkpointInterval,
            Store = new InMemoryCheckpointStore(),
            Restore = false,
        };
        using var stop = new CancellationTokenSource();
        using var abort = new CancellationTokenSource();
        var job = new JobRunner(plan.Graph, options).RunAsync(stop.Token, abort.Token);
        // The source is unbounded: stop gracefully once every message has been read.
        var result = BenchKafkaLoader.RunUntilRead(job, () => Interlocked.Read(ref metrics.SourceRows), rows, stopWhenRead: true, stop, abort, "kafka-clickhouse engine (rows)", 2);
        if (result.SourceRows != rows || result.SinkRows != rows)
            throw new ResultMismatchException($"engine ({delivery}): read {result.SourceRows:N0} and wrote {result.SinkRows:N0} rows, expected {rows:N0}");
        if (exposition != null && !exposition.Scrape().Contains("aietl_operator_rows_in_total", StringComparison.Ordinal))
            throw new InvalidOperationException("the Prometheus collector saw no engine metrics");
        return result;
    }

    private sealed class FailingDeadLetters : IDeadLetterOutput
    {
        public long Count => 0;
        public void Write(DeadLetter letter) => throw new InvalidOperationException($"unexpected dead letter: {letter.Error}");
        public ValueTask FlushAsync(CancellationToken ct) => default;
        public ValueTask DisposeAsync() => default;
    }
}

/// <summary>The peers of <c>kafka-clickhouse</c> and the decoder-only contestant.</summary>
public static class KafkaClickHousePeers
{
    /// <summary>
    /// <c>kafka_consume</c>: bare Confluent.Kafka consumers (one per core, partitions split as the engine splits them,
    /// assigned from the beginning) draining the topic; values only have their length summed (no copy, no object).
    /// </summary>
    public static (long Messages, long Bytes) Consume(string brokers, string topic, long[] partitionCounts, int parallelism)
    {
        var results = new (long Messages, long Bytes)[parallelism];
        var threads = new Thread[parallelism];
        for (var t = 0; t < parallelism; t++)
        {
            var index = t;
            threads[t] = new Thread(() => results[index] = ConsumeOwned(brokers, topic, partitionCounts, index, parallelism)) { Name = "kafka_consume-" + t };
            threads[t].Start();
        }
        foreach (var th in threads) th.Join();
        return (results.Sum(r => r.Messages), results.Sum(r => r.Bytes));
    }

    /// <summary>
    /// <c>librdkafka_batch_consume</c> (informational, not a target): the same consumers taking messages with librdkafka's
    /// batch call as the engine's source does (<see cref="NativeBatchConsumer"/>), lengths summed: the consume floor
    /// without Confluent's per-message wrapping.
    /// </summary>
    public static (long Messages, long Bytes) ConsumeBatch(string brokers, string topic, long[] partitionCounts, int parallelism)
    {
        var results = new (long Messages, long Bytes)[parallelism];
        var threads = new Thread[parallelism];
        for (var t = 0; t < parallelism; t++)
        {
            var index = t;
            threads[t] = new Thread(() => results[index] = ConsumeOwned(brokers, topic, partitionCounts, index, parallelism, batch: true)) { Name = "kafka_consume_batch-" + t };
            threads[t].Start();
        }
        foreach (var th in threads) th.Join();
        return (results.Sum(r => r.Messages), results.Sum(r => r.Bytes));
    }

    private static unsafe (long, long) ConsumeOwned(string brokers, string topic, long[] partitionCounts, int index, int parallelism, bool batch = false)
    {
        var owned = new List<TopicPartitionOffset>();
        long expected = 0;
        for (var p = index; p < partitionCounts.Length; p += parallelism)
        {
            owned.Add(new TopicPartitionOffset(topic, p, Offset.Beginning));
            expected += partitionCounts[p];
        }
        if (owned.Count == 0) return (0, 0);
        var length = new LengthDeserializer();
        using var consumer = new ConsumerBuilder<Ignore, int>(new ConsumerConfig
        {
            BootstrapServers = brokers,
            GroupId = $"peer-{Guid.NewGuid():N}",
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            EnablePartitionEof = false,
            ConsumeResultFields = "none",
            // The same fetch backoff the engine's source uses (librdkafka's default of 1 s leaves a consumer idle
            // once its prefetch queue filled): the peer is the consume limit, so it gets the faster setting too.
            FetchQueueBackoffMs = 20,
        }).SetValueDeserializer(length).Build();
        consumer.Assign(owned);
        long messages = 0, bytes = 0;
        var deadline = Stopwatch.StartNew();
        if (batch)
        {
            using var native = NativeBatchConsumer.TryCreate(consumer, 4096, perMessage: false, out var reason)
                ?? throw new InvalidOperationException($"librdkafka_batch_consume: {reason}");
            while (messages < expected)
            {
                var n = native.Consume(100, native.Capacity);
                if (n == 0 && deadline.Elapsed > TimeSpan.FromMinutes(2)) throw new TimeoutException($"librdkafka_batch_consume: {messages:N0} of {expected:N0} messages after 2 minutes");
                for (var i = 0; i < n; i++)
                {
                    var m = native[i];
                    if (m->Err != 0) continue;
                    messages++;
                    bytes += (long)m->Len;
                }
                native.Release(0);
            }
            native.Dispose();
            consumer.Close();
            return (messages, bytes);
        }
        while (messages < expected)
        {
            var cr = consumer.Consume(100);
            if (cr?.Message is null)
            {
                if (deadline.Elapsed > TimeSpan.FromMinutes(2)) throw new TimeoutException($"kafka_consume: {messages:N0} of {expected:N0} messages after 2 minutes");
                continue;
            }
            messages++;
            bytes += cr.Message.Value;
        }
        consumer.Close();
        return (messages, bytes);
    }

    private sealed class LengthDeserializer : IDeserializer<int>
    {
        public int Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context) => data.Length;
    }

    /// <summary>
    /// <c>clickhouse_insert</c>: the same rows as Native blocks encoded ahead of time, POSTed over HTTP
    /// (<c>INSERT … FORMAT Native</c>) by one sender per core, blocks of the sink's default batch size.
    /// </summary>
    public static long Insert(HttpClient http, string url, string table, IReadOnlyList<IReadOnlyList<(byte[] Block, int Rows)>> perSender)
    {
        var query = $"{url}/?query={Uri.EscapeDataString($"INSERT INTO {table} FORMAT Native")}";
        var tasks = perSender.Select(blocks => Task.Run(async () =>
        {
            long rows = 0;
            foreach (var (block, n) in blocks)
            {
                using var content = new ByteArrayContent(block);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                using var resp = await http.PostAsync(query, content).ConfigureAwait(false);
                if (!resp.IsSuccessStatusCode)
                    throw new InvalidOperationException($"clickhouse_insert: {(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync().ConfigureAwait(false)}");
                rows += n;
            }
            return rows;
        })).ToArray();
        Task.WaitAll(tasks);
        return tasks.Sum(t => t.Result);
    }

    /// <summary>The engine's JSON decoder alone, one thread: messages into 8,192-row batches (Arrow columns).</summary>
    public static OrdersChecksum Decode(byte[] bytes, int[] offsets)
    {
        var decoder = new JsonRowDecoder(KafkaClickHouseData.Schema);
        using var builder = new BatchBuilder(KafkaClickHouseData.Schema, 8192);
        long rows = 0, qty = 0, cents = 0, nulls = 0;
        var n = offsets.Length - 1;
        for (var i = 0; i < n; i++)
        {
            if (!decoder.TryDecode(bytes.AsSpan(offsets[i], offsets[i + 1] - offsets[i]), builder, out var error))
                throw new InvalidOperationException($"message {i}: {error.Message}");
            if (builder.Length == 8192 || i == n - 1)
            {
                using var b = builder.Build();
                Sum(b, ref rows, ref qty, ref cents, ref nulls);
            }
        }
        return new OrdersChecksum(rows, qty, cents, nulls);
    }

    private static void Sum(Batch b, ref long rows, ref long qty, ref long cents, ref long nulls)
    {
        rows += b.Length;
        foreach (var q in ((Int32Array)b.Column(3)).Values) qty += q;
        foreach (var a in ((DoubleArray)b.Column(4)).Values) cents += (long)Math.Round(a * 100);
        nulls += b.Column(6).NullCount;
    }

    /// <summary><c>json_poco</c>: System.Text.Json into objects (source-generated metadata), one thread.</summary>
    public static OrdersChecksum Poco(byte[] bytes, int[] offsets)
    {
        long rows = 0, qty = 0, cents = 0, nulls = 0;
        var n = offsets.Length - 1;
        var info = OrderPocoJsonContext.Default.OrderPoco;
        for (var i = 0; i < n; i++)
        {
            var o = JsonSerializer.Deserialize(bytes.AsSpan(offsets[i], offsets[i + 1] - offsets[i]), info)!;
            rows++;
            qty += o.Qty;
            cents += (long)Math.Round(o.Amount * 100);
            if (o.Country is null) nulls++;
        }
        return new OrdersChecksum(rows, qty, cents, nulls);
    }

    /// <summary>What a table holds, in the checksum's terms (and the count of distinct order ids).</summary>
    public static (OrdersChecksum Sums, long DistinctIds) TableChecksum(ClickHouseServer ch, string table)
    {
        var text = ch.QueryAsync($"SELECT count(), sum(qty), sum(toInt64(round(amount * 100))), countIf(isNull(country)), uniqExact(order_id) FROM {table} FORMAT TSV").GetAwaiter().GetResult();
        var f = text.Trim().Split('\t').Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        return (new OrdersChecksum(f[0], f[1], f[2], f[3]), f[4]);
    }
}
