using System.Diagnostics;
using System.Globalization;
using AiEtl.Bench.Harness;
using AiEtl.Engine.Spec;
using AiEtl.TestSupport;
using Confluent.Kafka;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// <c>kafka-clickhouse</c>: 5M JSON orders preloaded in a Kafka-protocol broker (librdkafka's mock cluster in a
/// child process) → the engine's Kafka source with the columnar JSON decoder → the ClickHouse sink into a
/// MergeTree table of a real ClickHouse server, at-least-once and exactly-once; against a bare Confluent.Kafka
/// consumer (the consume limit), an HTTP insert of the same rows pre-encoded (the insert limit), and
/// System.Text.Json into objects vs the engine's decoder alone, in the same run.
/// </summary>
public sealed class KafkaClickHouseScenario : IScenario
{
    public const long DefaultRows = 5_000_000;
    public const long QuickRows = 500_000;
    public const string Topic = "orders";
    public const int Brokers = 3;
    /// <summary>The mock keeps ≈5 MiB per partition: one partition per 4 MiB of messages (plus a margin).</summary>
    public const long BytesPerPartition = 4L << 20;
    public static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(2);
    /// <summary>Rows per insert of the clickhouse_insert peer: the sink's default <c>batch_rows</c>.</summary>
    public const int InsertBlockRows = 500_000;

    public string Name => "kafka-clickhouse";

    public string Description => "5M JSON orders: Kafka (mock broker, own process) -> decode -> filter -> ClickHouse MergeTree, ALO and EOS, vs kafka_consume, clickhouse_insert, json_poco (and librdkafka_batch_consume)";

    public ScenarioReport Run(BenchOptions options, Measurer measurer)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(measurer);
        var rows = options.Rows ?? (options.Quick ? QuickRows : DefaultRows);
        var p = options.Parallelism;
        if (options.DecodeOnly) return KafkaClickHouseDecode.Run(options, measurer, rows);
        var sw = Stopwatch.StartNew();

        var sample = KafkaClickHouseData.Messages(Math.Min(rows, 20_000));
        var avgBytes = (double)sample.Offsets[^1] / (sample.Offsets.Length - 1);
        var partitions = (int)Math.Max(4, Math.Ceiling(rows * avgBytes * 1.1 / BytesPerPartition));

        var ch = ClickHouseServer.StartAsync().GetAwaiter().GetResult();
        try
        {
            using var broker = MockBrokerProcess.Start(Brokers, Topic, partitions);
            Log($"kafka-clickhouse: ClickHouse {ch.Version} on {ch.HttpUrl}; mock broker (pid {broker.Pid}, {Brokers} brokers) on {broker.BootstrapServers}, topic {Topic} with {partitions} partitions");

            sw.Restart();
            var expected = Load(broker.BootstrapServers, rows, partitions);
            var loadSeconds = sw.Elapsed.TotalSeconds;
            var counts = BenchKafkaLoader.PartitionCounts(broker.BootstrapServers, Topic, partitions);
            if (counts.Sum() != rows)
                throw new InvalidOperationException($"the broker holds {counts.Sum():N0} messages after loading {rows:N0}: the mock dropped data; use more partitions (now {partitions})");
            Log($"kafka-clickhouse: loaded {rows:N0} messages ({avgBytes:F0} B avg) in {loadSeconds:F1} s; broker holds {counts.Sum():N0} (checked); {expected}");

            var engine = new KafkaClickHouseEngine(broker.BootstrapServers, Topic, ch, p, CheckpointInterval);
            // The plain run, the same run with logging + the metrics collector (aietl run's defaults plus
            // --metrics-port) and the exactly-once run, alternated round by round with the order rotating, so that
            // neither the observability cost nor the exactly-once cost is a difference between two moments of load.
            AiEtl.Engine.Runtime.JobResult? eosResult = null;
            var engines = measurer.MeasureAlternating(rows,
            [
                ("engine", () => engine.Run("kc_alo", DeliveryGuarantee.AtLeastOnce, rows)),
                ("engine_observed", () => engine.Run("kc_obs", DeliveryGuarantee.AtLeastOnce, rows, observed: true)),
                ("engine_eos", () => engine.Run("kc_eos", DeliveryGuarantee.ExactlyOnce, rows)),
            ], (name, result) => { if (name == "engine_eos") eosResult = result; });
            var (alo, observed, eos) = (engines[0], engines[1], engines[2]);
            CheckTable(ch, "kc_alo", "engine (at-least-once)", expected);
            Log($"kafka-clickhouse: engine ALO {CoreScenario.Rate(alo.RowsPerSecond)} rows/s, {CoreScenario.Rate(alo.RowsPerCpuSecond)} rows/CPU-s (runs ms: {alo.RunsText})");
            CheckTable(ch, "kc_obs", "engine observed (at-least-once)", expected);
            Log($"kafka-clickhouse: engine ALO with logging + metrics collector {CoreScenario.Rate(observed.RowsPerSecond)} rows/s, {CoreScenario.Rate(observed.RowsPerCpuSecond)} rows/CPU-s (runs ms: {observed.RunsText})");
            CheckTable(ch, "kc_eos", "engine (exactly-once)", expected);
            Log($"kafka-clickhouse: engine EOS {CoreScenario.Rate(eos.RowsPerSecond)} rows/s (runs ms: {eos.RunsText}), {eosResult!.CheckpointsCompleted} checkpoints in the last run");

            var sourceOnly = measurer.Measure("engine_source_only", rows, () => engine.Run(null, DeliveryGuarantee.AtLeastOnce, rows), out _);
            Log($"kafka-clickhouse: engine source only (null sink) {CoreScenario.Rate(sourceOnly.RowsPerSecond)} rows/s (runs ms: {sourceOnly.RunsText})");

            var consume = measurer.Measure("kafka_consume", rows, () => KafkaClickHousePeers.Consume(broker.BootstrapServers, Topic, counts, p), out var consumed);
            if (consumed.Messages != rows) throw new ResultMismatchException($"kafka_consume read {consumed.Messages:N0} messages, expected {rows:N0}");
            Log($"kafka-clickhouse: kafka_consume {CoreScenario.Rate(consume.RowsPerSecond)} msgs/s (runs ms: {consume.RunsText})");
            var consumeBatch = measurer.Measure("librdkafka_batch_consume", rows, () => KafkaClickHousePeers.ConsumeBatch(broker.BootstrapServers, Topic, counts, p), out var consumedBatch);
            if (consumedBatch.Messages != rows) throw new ResultMismatchException($"librdkafka_batch_consume read {consumedBatch.Messages:N0} messages, expected {rows:N0}");
            Log($"kafka-clickhouse: librdkafka_batch_consume {CoreScenario.Rate(consumeBatch.RowsPerSecond)} msgs/s (runs ms: {consumeBatch.RunsText})");
            var brokerCpu = broker.CpuSeconds;

            Measurement insert;
            {
                var columns = ch.QueryAsync("SELECT name, type FROM system.columns WHERE database = 'default' AND table = 'kc_alo' FORMAT TSV").GetAwaiter().GetResult()
                    .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).Select(f => (f[0], f[1])).ToList();
                ch.QueryAsync("DROP TABLE IF EXISTS kc_peer").GetAwaiter().GetResult();
                ch.QueryAsync("CREATE TABLE kc_peer AS kc_alo").GetAwaiter().GetResult();
                var perSender = Enumerable.Range(0, p).Select(_ => new List<(byte[], int)>()).ToArray();
                var senderRows = (rows + p - 1) / p;
                for (var s = 0; s < p; s++)
                {
                    for (var start = s * senderRows; start < Math.Min(rows, (s + 1) * senderRows); start += InsertBlockRows)
                    {
                        var n = (int)Math.Min(InsertBlockRows, Math.Min(rows, (s + 1) * senderRows) - start);
                        perSender[s].Add((OrdersNativeEncoder.Block(start, n, columns), n));
                    }
                }
                var encodedBytes = perSender.Sum(l => l.Sum(b => (long)b.Item1.Length));
                Log($"kafka-clickhouse: encoded {rows:N0} rows as Native blocks ({encodedBytes / (1024.0 * 1024):F0} MiB) for clickhouse_insert; columns {string.Join(", ", columns.Select(c => $"{c.Item1} {c.Item2}"))}");
                using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
                insert = measurer.Measure("clickhouse_insert", rows, () =>
                {
                    ch.QueryAsync("TRUNCATE TABLE kc_peer").GetAwaiter().GetResult();
                    return KafkaClickHousePeers.Insert(http, ch.HttpUrl, "kc_peer", perSender);
                }, out var inserted);
                if (inserted != rows) throw new ResultMismatchException($"clickhouse_insert sent {inserted:N0} rows, expected {rows:N0}");
                CheckTable(ch, "kc_peer", "clickhouse_insert", expected);
                Log($"kafka-clickhouse: clickhouse_insert {CoreScenario.Rate(insert.RowsPerSecond)} rows/s (runs ms: {insert.RunsText})");
            }
            Measurer.Settle();

            // Decoder vs json_poco in alternating rounds over the same in-memory messages (same load for both).
            var (decode, poco, messageBytes) = KafkaClickHouseDecode.Measure(measurer, rows, expected);
            return BuildReport(options, rows, expected, partitions, messageBytes, loadSeconds, ch.Version, alo, observed, eos, sourceOnly, decode,
                [(consume, p), (insert, p), (poco, 1), (consumeBatch, p)], brokerCpu);
        }
        finally
        {
            ch.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Produces the messages in runs of 256 per partition (full producer batches); returns the expected checksum.</summary>
    private static OrdersChecksum Load(string brokers, long rows, int partitions)
    {
        using var loader = new BenchKafkaLoader(brokers);
        Span<byte> buf = stackalloc byte[KafkaClickHouseData.MaxMessageBytes];
        long qty = 0, cents = 0, nulls = 0;
        for (long i = 0; i < rows; i++)
        {
            var v = KafkaClickHouseData.Row(i);
            qty += v.Qty;
            cents += v.AmountCents;
            if (v.Country < 0) nulls++;
            loader.Produce(new TopicPartition(Topic, (int)(i / 256 % partitions)), buf[..KafkaClickHouseData.WriteJson(v, buf)].ToArray());
        }
        loader.Finish();
        return new OrdersChecksum(rows, qty, cents, nulls);
    }

    private static void CheckTable(ClickHouseServer ch, string table, string who, OrdersChecksum expected)
    {
        var (sums, distinct) = KafkaClickHousePeers.TableChecksum(ch, table);
        if (sums != expected || distinct != expected.Rows)
            throw new ResultMismatchException($"{who}: table {table} holds {sums}, {distinct:N0} distinct order ids; expected {expected}");
    }

    private static ScenarioReport BuildReport(BenchOptions options, long rows, OrdersChecksum expected, int partitions, long messageBytes,
        double loadSeconds, string chVersion, Measurement alo, Measurement observed, Measurement eos, Measurement sourceOnly, Measurement decode,
        (Measurement M, int Threads)[] peers, double brokerCpu)
    {
        var consume = peers[0].M;
        var insert = peers[1].M;
        var poco = peers[2].M;
        var consumeBatch = peers[3].M;
        var slower = Math.Min(consume.RowsPerSecond, insert.RowsPerSecond);
        var eosCost = 1 - eos.RowsPerSecond / alo.RowsPerSecond;
        var decodeVsPoco = decode.RowsPerSecond / poco.RowsPerSecond;

        var report = new ScenarioReport { Scenario = "kafka-clickhouse", Rows = rows, Env = EnvInfo.Collect(options) };
        report.Engine
            .Add("rows_per_s", alo.RowsPerSecond, 0)
            .Add("alloc_bytes_per_row", alo.AllocBytesPerRow, 2)
            .Add("peak_rss_mb", alo.PeakRssMb, 1);
        AddDetails(report.Engine, alo, options.Parallelism);
        report.Engine
            .Add("decode_msgs_per_s", decode.RowsPerSecond, 0)
            .Add("decode_msgs_per_cpu_s", decode.RowsPerCpuSecond, 0)
            .Add("decode_alloc_bytes_per_msg", decode.AllocBytesPerRow, 3)
            .Add("decode_mb_per_s", messageBytes / decode.Best.WallSeconds / 1e6, 1)
            .Add("eos_rows_per_s", eos.RowsPerSecond, 0)
            .Add("eos_rows_per_s_median", eos.RowsPerSecondMedian, 0)
            .Add("eos_alloc_bytes_per_row", eos.AllocBytesPerRow, 2)
            .Add("eos_peak_rss_mb", eos.PeakRssMb, 1)
            .Add("eos_rows_per_cpu_s", eos.RowsPerCpuSecond, 0)
            .Add("source_only_rows_per_s", sourceOnly.RowsPerSecond, 0)
            .Add("source_only_rows_per_cpu_s", sourceOnly.RowsPerCpuSecond, 0)
            .Add("source_only_alloc_bytes_per_row", sourceOnly.AllocBytesPerRow, 2)
            .Add("vm_hwm_mb", alo.VmHwmBytes / (1024.0 * 1024.0), 1)
            .Add("implementation", "pipeline planned from YAML: kafka source (manual assignment, partitions split over the readers, messages taken with librdkafka's batch consume, JsonRowDecoder from librdkafka's buffer into Arrow columns) fused with a filter every row passes and the clickhouse sink (Native over HTTP, MergeTree created by the sink); parallelism = cores; stopped gracefully once every message is read");
        foreach (var (m, threads) in peers)
        {
            var f = new Figures().Add("rows_per_s", m.RowsPerSecond, 0);
            AddDetails(f, m, threads);
            f.Add("alloc_bytes_per_row", m.AllocBytesPerRow, 3).Add("peak_rss_mb", m.PeakRssMb, 1);
            report.Peers.Add(m.Name, f);
        }
        report.Ratios
            .Add("vs_kafka_consume", alo.RowsPerSecond / consume.RowsPerSecond, 3)
            .Add("vs_clickhouse_insert", alo.RowsPerSecond / insert.RowsPerSecond, 3)
            .Add("vs_slower_raw_peer", alo.RowsPerSecond / slower, 3)
            .Add("vs_librdkafka_batch_consume", alo.RowsPerSecond / consumeBatch.RowsPerSecond, 3)
            .Add("source_only_vs_librdkafka_batch_consume", sourceOnly.RowsPerSecond / consumeBatch.RowsPerSecond, 3)
            .Add("vs_json_poco", decodeVsPoco, 3)
            .Add("eos_cost", eosCost, 3)
            .Add("eos_vs_alo", eos.RowsPerSecond / alo.RowsPerSecond, 3);
        report.Extra.Add("observability", new Figures()
            .Add("what", "engine_observed = the at-least-once run with console logging at Information (scopes on; one logger factory per process) and the Prometheus collector (a MeterListener on every instrument of the run) attached; alternated with the plain run and the exactly-once run (one warmup each, then rounds of all three, the order rotating each round)")
            .Add("alternated_runs_each", (long)observed.Runs.Count)
            .Add("plain_rows_per_s", alo.RowsPerSecond, 0)
            .Add("observed_rows_per_s", observed.RowsPerSecond, 0)
            .Add("plain_rows_per_cpu_s", alo.RowsPerCpuSecond, 0)
            .Add("observed_rows_per_cpu_s", observed.RowsPerCpuSecond, 0)
            .Add("observed_vs_plain_rows_per_s", observed.RowsPerSecond / alo.RowsPerSecond, 3)
            .Add("observed_vs_plain_rows_per_cpu_s", observed.RowsPerCpuSecond / alo.RowsPerCpuSecond, 3)
            .Add("plain_median_ms", alo.MedianWallSeconds * 1e3, 1)
            .Add("observed_median_ms", observed.MedianWallSeconds * 1e3, 1)
            .Add("observed_time_ratio_median", observed.MedianWallSeconds / alo.MedianWallSeconds, 3));
        report.Extra.Add("targets", new Figures()
            .Add("end_to_end_vs_slower_raw_peer_min", 0.7, 2)
            .Add("end_to_end_met", alo.RowsPerSecond >= 0.7 * slower)
            .Add("decode_msgs_per_s_per_core_min", 1_000_000L)
            .Add("decode_per_core_met", decode.RowsPerSecond >= 1e6)
            .Add("decode_vs_json_poco_min", 3.0, 1)
            .Add("decode_vs_json_poco_met", decodeVsPoco >= 3)
            .Add("eos_cost_max", 0.25, 2)
            .Add("eos_cost_met", eosCost <= 0.25));
        report.Extra.Add("pipeline", new Figures()
            .Add("messages", rows)
            .Add("message_bytes_avg", (double)messageBytes / rows, 1)
            .Add("message_bytes_total", messageBytes)
            .Add("fields", (long)KafkaClickHouseData.Columns.Length)
            .Add("topic_partitions", (long)partitions)
            .Add("broker", $"librdkafka mock cluster ({Brokers} brokers) in a child process; its CPU is not in the engine's figures")
            .Add("broker_cpu_s_total", brokerCpu, 1)
            .Add("load_seconds", loadSeconds, 1)
            .Add("clickhouse_version", chVersion)
            .Add("table", "MergeTree ORDER BY order_id, created by the sink (exactly-once adds _aietl_writer, _aietl_checkpoint)")
            .Add("checkpoint_interval_s", CheckpointInterval.TotalSeconds, 1)
            .Add("source_batch_rows", 8192L)
            .Add("sink_batch_rows", (long)InsertBlockRows)
            .Add("decoders", "single thread over the same messages held in memory: rows_per_s = messages/s per core")
            .Add("sum_qty", expected.Qty)
            .Add("sum_amount_cents", expected.AmountCents)
            .Add("null_countries", expected.NullCountries)
            .Add("verified_equal", "engine ALO and EOS tables, clickhouse_insert table (count, Σqty, Σamount, null countries, distinct order ids); kafka_consume and librdkafka_batch_consume message counts; decoder and json_poco sums"));
        report.Extra.Add("per_cpu", new Figures()
            .Add("engine_rows_per_cpu_s", alo.RowsPerCpuSecond, 0)
            .Add("kafka_consume_rows_per_cpu_s", consume.RowsPerCpuSecond, 0)
            .Add("librdkafka_batch_consume_rows_per_cpu_s", consumeBatch.RowsPerCpuSecond, 0)
            .Add("clickhouse_insert_rows_per_cpu_s", insert.RowsPerCpuSecond, 0)
            .Add("note", "CPU of this process only: the broker and ClickHouse run in their own processes"));

        var table = new Table("contestant", "threads", "best ms", "median ms", "rows/s", "rows/s median", "rows/cpu-s", "alloc B/row", "peak RSS MB", "engine ÷");
        table.Row(Cells(alo, options.Parallelism, alo));
        table.Row(Cells(eos, options.Parallelism, alo));
        table.Row(Cells(sourceOnly, options.Parallelism, alo));
        table.Row(Cells(consume, options.Parallelism, alo));
        table.Row(Cells(consumeBatch, options.Parallelism, alo));
        table.Row(Cells(insert, options.Parallelism, alo));
        table.Row(Cells(decode, 1, decode));
        table.Row(Cells(poco, 1, decode));
        report.Table = table;
        report.Notes.Add($"{rows:N0} messages, {messageBytes / (double)rows:F0} B avg, {partitions} partitions; {expected}");
        report.Notes.Add($"end to end ÷ slower raw peer {alo.RowsPerSecond / slower:F2} (target ≥ 0.7); decoder {CoreScenario.Rate(decode.RowsPerSecond)} msgs/s per core (≥ 1M), {decodeVsPoco:F2}× json_poco (≥ 3); EOS cost {eosCost:P1} (≤ 25%)");
        report.Notes.Add("kafka_consume is the issue's consume limit (a bare Confluent.Kafka consumer, Consume per message); librdkafka_batch_consume takes the messages with librdkafka's batch call as the engine's source does (informational: the consume floor without Confluent's per-message wrapping)");
        report.Notes.Add("engine_decoder and json_poco rows are messages decoded per second on one thread; their ÷ column compares against engine_decoder");
        return report;
    }

    private static void AddDetails(Figures f, Measurement m, int threads) => f
        .Add("rows_per_s_median", m.RowsPerSecondMedian, 0)
        .Add("wall_ms_best", m.Best.WallSeconds * 1e3, 2)
        .Add("wall_ms_median", m.MedianWallSeconds * 1e3, 2)
        .Add("cpu_s_best", m.Best.CpuSeconds, 3)
        .Add("rows_per_cpu_s", m.RowsPerCpuSecond, 0)
        .Add("threads", (long)threads);

    private static string[] Cells(Measurement m, int threads, Measurement reference) =>
    [
        m.Name,
        threads.ToString(CultureInfo.InvariantCulture),
        (m.Best.WallSeconds * 1e3).ToString("F1", CultureInfo.InvariantCulture),
        (m.MedianWallSeconds * 1e3).ToString("F1", CultureInfo.InvariantCulture),
        CoreScenario.Rate(m.RowsPerSecond),
        CoreScenario.Rate(m.RowsPerSecondMedian),
        CoreScenario.Rate(m.RowsPerCpuSecond),
        m.AllocBytesPerRow.ToString("F2", CultureInfo.InvariantCulture),
        m.PeakRssMb.ToString("F0", CultureInfo.InvariantCulture),
        ReferenceEquals(m, reference) ? "—" : (reference.RowsPerSecond / m.RowsPerSecond).ToString("F2", CultureInfo.InvariantCulture) + "×",
    ];

    private static void Log(string line) => Console.Error.WriteLine(line);
}
