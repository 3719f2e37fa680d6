using System.Diagnostics;
using AiEtl.Bench.Harness;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// The decoder contest of <c>kafka-clickhouse</c>: the engine's <c>JsonRowDecoder</c> into Arrow columns vs
/// System.Text.Json into objects (<c>json_poco</c>), each on one thread over the same messages held in one
/// array, measured in alternating rounds (best of N each) so both see the same machine load. Also runnable
/// alone (<c>kafka-clickhouse --decode-only</c>), without a broker or ClickHouse.
/// </summary>
public static class KafkaClickHouseDecode
{
    /// <summary>Generates <paramref name="rows"/> messages and measures both decoders against the expected checksum.</summary>
    public static (Measurement Decode, Measurement Poco, long MessageBytes) Measure(Measurer measurer, long rows, OrdersChecksum expected)
    {
        ArgumentNullException.ThrowIfNull(measurer);
        var sw = Stopwatch.StartNew();
        var (bytes, offsets) = KafkaClickHouseData.Messages(rows);
        var messageBytes = (long)offsets[^1];
        Log($"kafka-clickhouse: generated {rows:N0} messages in memory ({messageBytes / (1024.0 * 1024):F0} MiB) in {sw.Elapsed.TotalSeconds:F1} s");
        var m = measurer.MeasureAlternating(rows,
            [
                ("engine_decoder", () => KafkaClickHousePeers.Decode(bytes, offsets)),
                ("json_poco", () => KafkaClickHousePeers.Poco(bytes, offsets)),
            ],
            (who, actual) =>
            {
                if (actual != expected) throw new ResultMismatchException($"{who}: {actual}, expected {expected}");
            });
        Log($"kafka-clickhouse: engine decoder {CoreScenario.Rate(m[0].RowsPerSecond)} msgs/s on one thread (runs ms: {m[0].RunsText})");
        Log($"kafka-clickhouse: json_poco {CoreScenario.Rate(m[1].RowsPerSecond)} msgs/s on one thread (runs ms: {m[1].RunsText})");
        return (m[0], m[1], messageBytes);
    }

    /// <summary><c>kafka-clickhouse --decode-only</c>: the decoder contest alone, reported as <c>kafka-clickhouse-decode</c>.</summary>
    public static ScenarioReport Run(BenchOptions options, Measurer measurer, long rows)
    {
        ArgumentNullException.ThrowIfNull(options);
        var expected = KafkaClickHouseData.Expected(rows);
        var (decode, poco, messageBytes) = Measure(measurer, rows, expected);
        var ratio = decode.RowsPerSecond / poco.RowsPerSecond;
        var report = new ScenarioReport { Scenario = "kafka-clickhouse-decode", Rows = rows, Env = EnvInfo.Collect(options) };
        report.Engine
            .Add("rows_per_s", decode.RowsPerSecond, 0)
            .Add("decode_msgs_per_s", decode.RowsPerSecond, 0)
            .Add("decode_msgs_per_s_median", decode.RowsPerSecondMedian, 0)
            .Add("decode_msgs_per_cpu_s", decode.RowsPerCpuSecond, 0)
            .Add("alloc_bytes_per_row", decode.AllocBytesPerRow, 3)
            .Add("decode_mb_per_s", messageBytes / decode.Best.WallSeconds / 1e6, 1)
            .Add("wall_ms_best", decode.Best.WallSeconds * 1e3, 2)
            .Add("peak_rss_mb", decode.PeakRssMb, 1)
            .Add("implementation", "JsonRowDecoder into an 8,192-row BatchBuilder, batches built (Arrow) and summed; one thread");
        report.Peers.Add(poco.Name, new Figures()
            .Add("rows_per_s", poco.RowsPerSecond, 0)
            .Add("rows_per_s_median", poco.RowsPerSecondMedian, 0)
            .Add("rows_per_cpu_s", poco.RowsPerCpuSecond, 0)
            .Add("wall_ms_best", poco.Best.WallSeconds * 1e3, 2)
            .Add("alloc_bytes_per_row", poco.AllocBytesPerRow, 3)
            .Add("peak_rss_mb", poco.PeakRssMb, 1));
        report.Ratios
            .Add("vs_json_poco", ratio, 3)
            .Add("vs_json_poco_median", decode.RowsPerSecondMedian / poco.RowsPerSecondMedian, 3)
            .Add("vs_json_poco_per_cpu_s", decode.RowsPerCpuSecond / poco.RowsPerCpuSecond, 3);
        report.Extra.Add("targets", new Figures()
            .Add("decode_msgs_per_s_per_core_min", 1_000_000L)
            .Add("decode_per_core_met", decode.RowsPerSecond >= 1e6)
            .Add("decode_vs_json_poco_min", 3.0, 1)
            .Add("decode_vs_json_poco_met", ratio >= 3));
        report.Extra.Add("pipeline", new Figures()
            .Add("messages", rows)
            .Add("message_bytes_avg", (double)messageBytes / rows, 1)
            .Add("fields", (long)KafkaClickHouseData.Columns.Length)
            .Add("measurement", "both contestants on one thread over the same in-memory messages; one warmup each, then rounds of one run each in rotating order; best and median of the rounds")
            .Add("verified_equal", "decoder and json_poco sums (rows, Σqty, Σamount, null countries) against the generator's"));
        var table = new Table("contestant", "threads", "best ms", "median ms", "msgs/s", "msgs/s median", "msgs/cpu-s", "alloc B/msg", "decoder ÷");
        foreach (var m in new[] { decode, poco })
        {
            table.Row(
                m.Name, "1",
                (m.Best.WallSeconds * 1e3).ToString("F1", System.Globalization.CultureInfo.InvariantCulture),
                (m.MedianWallSeconds * 1e3).ToString("F1", System.Globalization.CultureInfo.InvariantCulture),
                CoreScenario.Rate(m.RowsPerSecond), CoreScenario.Rate(m.RowsPerSecondMedian), CoreScenario.Rate(m.RowsPerCpuSecond),
                m.AllocBytesPerRow.ToString("F2", System.Globalization.CultureInfo.InvariantCulture),
                ReferenceEquals(m, decode) ? "—" : (decode.RowsPerSecond / m.RowsPerSecond).ToString("F2", System.Globalization.CultureInfo.InvariantCulture) + "×");
        }
        report.Table = table;
        report.Notes.Add($"{rows:N0} messages, {messageBytes / (double)rows:F0} B avg; {expected}");
        report.Notes.Add($"decoder {CoreScenario.Rate(decode.RowsPerSecond)} msgs/s per core (≥ 1M), {ratio:F2}× json_poco best vs best (≥ 3), {decode.RowsPerSecondMedian / poco.RowsPerSecondMedian:F2}× median vs median");
        return report;
    }

    private static void Log(string line) => Console.Error.WriteLine(line);
}
