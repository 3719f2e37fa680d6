using System.Globalization;
using AiEtl.Engine.Hosting;
using AiEtl.Engine.Runtime;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>
/// The Prometheus collector under the load the engine puts on it: every task thread records on the same series
/// at once, and nothing may be lost or split (the collector updates series without a lock and finds a series
/// by the reference of its tag).
/// </summary>
public sealed class PrometheusExpositionTests
{
    private const int Threads = 4;
    private const int PerThread = 400_000;

    [Fact]
    public async Task ConcurrentMeasurementsOnSharedSeriesAreCountedExactly()
    {
        using var metrics = new EngineMetrics("exp");
        using var exposition = new PrometheusExposition(metrics);
        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => Task.Factory.StartNew(() =>
        {
            // Tags built once, as the runtime builds them per operator link: the same instances on every call.
            var filter = new KeyValuePair<string, object?>("operator", "filter");
            start.SignalAndWait();
            for (var i = 0; i < PerThread; i++)
            {
                metrics.RowsIn.Add(3, filter);
                // A caller that builds the tag value anew each time must still land on one series.
                metrics.RowsIn.Add(2, new KeyValuePair<string, object?>("operator", new string("sink:out".AsSpan())));
                metrics.BatchLatency.Record(i % 4 == 0 ? 0.0625 : 7.0);
                metrics.BackpressureTime.Add(0.5);
                metrics.BytesOut.Add(1, new("operator", "project"), new("partition", t % 2));
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        await Task.WhenAll(workers);

        var text = exposition.Scrape();
        const long total = (long)Threads * PerThread;
        Assert.Equal(3 * total, Value(text, "aietl_operator_rows_in_total{pipeline=\"exp\",operator=\"filter\"}"));
        Assert.Equal(2 * total, Value(text, "aietl_operator_rows_in_total{pipeline=\"exp\",operator=\"sink:out\"}"));
        Assert.Single(SeriesLines(text, "aietl_operator_rows_in_total"), l => l.Contains("sink:out", StringComparison.Ordinal));
        Assert.Equal(2, SeriesLines(text, "aietl_operator_rows_in_total").Count);
        Assert.Equal(0.5 * total, Value(text, "aietl_edge_backpressure_time_milliseconds_total{pipeline=\"exp\"}"));
        Assert.Equal(total / 2, Value(text, "aietl_operator_bytes_out_bytes_total{pipeline=\"exp\",operator=\"project\",partition=\"0\"}"));
        Assert.Equal(total / 2, Value(text, "aietl_operator_bytes_out_bytes_total{pipeline=\"exp\",operator=\"project\",partition=\"1\"}"));

        // Histogram: cumulative buckets, _count equal to the +Inf bucket, _sum of every value (binary fractions: exact).
        const string h = "aietl_operator_batch_latency_milliseconds";
        var small = total / 4;
        Assert.Equal(small, Value(text, h + "_bucket{pipeline=\"exp\",le=\"0.1\"}"));
        Assert.Equal(small, Value(text, h + "_bucket{pipeline=\"exp\",le=\"5\"}"));
        Assert.Equal(total, Value(text, h + "_bucket{pipeline=\"exp\",le=\"10\"}"));
        Assert.Equal(total, Value(text, h + "_bucket{pipeline=\"exp\",le=\"+Inf\"}"));
        Assert.Equal(total, Value(text, h + "_count{pipeline=\"exp\"}"));
        Assert.Equal(small * 0.0625 + (total - small) * 7.0, Value(text, h + "_sum{pipeline=\"exp\"}"));
        Assert.Contains("# TYPE " + h + " histogram", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE aietl_operator_rows_in_total counter", text, StringComparison.Ordinal);
    }

    [Fact]
    public void GaugesReportTheLastValueAndOtherRunsAreNotCollected()
    {
        using var metrics = new EngineMetrics("mine");
        using var other = new EngineMetrics("other");
        using var exposition = new PrometheusExposition(metrics);
        metrics.WatermarkLagMs = 41;
        other.WatermarkLagMs = 7;
        metrics.RowsOut.Add(5, new KeyValuePair<string, object?>("operator", "filter"));
        other.RowsOut.Add(1000, new KeyValuePair<string, object?>("operator", "filter"));
        Assert.Equal(41, Value(exposition.Scrape(), "aietl_watermark_lag_milliseconds{pipeline=\"mine\"}"));
        metrics.WatermarkLagMs = 42;
        var text = exposition.Scrape();
        Assert.Equal(42, Value(text, "aietl_watermark_lag_milliseconds{pipeline=\"mine\"}"));
        Assert.Equal(5, Value(text, "aietl_operator_rows_out_total{pipeline=\"mine\",operator=\"filter\"}"));
        Assert.DoesNotContain("1000", text, StringComparison.Ordinal);
        Assert.DoesNotContain("other", text, StringComparison.Ordinal);
    }

    private static List<string> SeriesLines(string text, string name) =>
        text.Split('\n').Where(l => l.StartsWith(name + "{", StringComparison.Ordinal)).ToList();

    private static double Value(string text, string series)
    {
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        Assert.True(line != null, $"no series {series} in:\n{text}");
        return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }
}
