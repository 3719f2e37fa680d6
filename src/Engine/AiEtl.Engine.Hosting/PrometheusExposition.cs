using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using AiEtl.Engine.Runtime;

namespace AiEtl.Engine.Hosting;

/// <summary>
/// Collects the measurements of one run's <c>AiEtl.Engine</c> meter (a <see cref="MeterListener"/> on that
/// <see cref="EngineMetrics.Meter"/>) and writes them in the Prometheus text exposition format 0.0.4:
/// counters as <c>NAME_total</c>, histograms as cumulative <c>_bucket</c>/<c>_sum</c>/<c>_count</c>, gauges as is;
/// dots become underscores and every series carries <c>pipeline</c>. The engine records per batch, never per
/// row, and a measurement costs a dictionary lookup on a struct key (no allocation once a series exists).
/// </summary>
public sealed class PrometheusExposition : IDisposable
{
    private static readonly double[] MillisecondBuckets = [0.1, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];
    private static readonly double[] ByteBuckets = [1024, 16384, 131072, 1048576, 8388608, 67108864, 536870912, 4294967296];
    private static readonly double[] DefaultBuckets = [1, 10, 100, 1000, 10000, 100000, 1000000];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<SeriesKey, Series> _series = new();
    private readonly EngineMetrics _metrics;

    public PrometheusExposition(EngineMetrics metrics)
    {
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    /// <summary>Extra gauges written with every scrape (e.g. readiness), name → value.</summary>
    public Func<IEnumerable<KeyValuePair<string, double>>>? ExtraGauges { get; set; }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var key = tags.Length switch
        {
            0 => new SeriesKey(instrument, null, null, null, null, null),
            1 => new SeriesKey(instrument, tags[0].Key, tags[0].Value, null, null, null),
            2 => new SeriesKey(instrument, tags[0].Key, tags[0].Value, tags[1].Key, tags[1].Value, null),
            _ => new SeriesKey(instrument, null, null, null, null, Labels(tags)),
        };
        if (!_series.TryGetValue(key, out var series)) series = _series.GetOrAdd(key, k => new Series(k, BucketsFor(instrument)));
        series.Add(instrument, value);
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var sb = new StringBuilder();
        foreach (var t in tags) AppendLabel(sb, t.Key, t.Value);
        return sb.ToString();
    }

    private static double[]? BucketsFor(Instrument instrument) =>
        instrument is Histogram<double> or Histogram<long> or Histogram<int>
            ? instrument.Unit switch { "ms" => MillisecondBuckets, "By" => ByteBuckets, _ => DefaultBuckets }
            : null;

    /// <summary>The current values in the Prometheus text format.</summary>
    public string Scrape()
    {
        _listener.RecordObservableInstruments();
        var sb = new StringBuilder(4096);
        var pipelineLabel = new StringBuilder();
        AppendLabel(pipelineLabel, "pipeline", _metrics.Pipeline);
        foreach (var group in _series.Values.GroupBy(s => s.Key.Instrument).OrderBy(g => g.Key.Name, StringComparer.Ordinal))
        {
            var instrument = group.Key;
            var kind = instrument switch
            {
                Counter<long> or Counter<double> or Counter<int> => "counter",
                Histogram<double> or Histogram<long> or Histogram<int> => "histogram",
                _ => "gauge",
            };
            var name = MetricName(instrument, kind);
            sb.Append("# HELP ").Append(name).Append(' ').Append(instrument.Description).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(kind).Append('\n');
            foreach (var s in group) s.Write(sb, name, kind, pipelineLabel.ToString());
        }
        if (ExtraGauges != null)
        {
            foreach (var (name, value) in ExtraGauges())
            {
                sb.Append("# TYPE ").Append(name).Append(" gauge\n");
                sb.Append(name).Append('{').Append(pipelineLabel).Append("} ").Append(Format(value)).Append('\n');
            }
        }
        return sb.ToString();
    }

    private static string MetricName(Instrument instrument, string kind)
    {
        var baseName = instrument.Name.Replace('.', '_').Replace('-', '_');
        var unit = instrument.Unit switch
        {
            "ms" => "_milliseconds",
            "By" => "_bytes",
            "s" => "_seconds",
            _ => "",
        };
        if (!baseName.EndsWith(unit, StringComparison.Ordinal)) baseName += unit;
        return kind == "counter" ? baseName + "_total" : baseName;
    }

    internal static void AppendLabel(StringBuilder sb, string key, object? value)
    {
        if (sb.Length > 0) sb.Append(',');
        sb.Append(key.Replace('.', '_')).Append("=\"");
        foreach (var c in Convert.ToString(value, CultureInfo.InvariantCulture) ?? "")
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '"': sb.Append("\\\""); break;
                case '\n': sb.Append("\\n"); break;
                default: sb.Append(c); break;
            }
        }
        sb.Append('"');
    }

    internal static string Format(double v) =>
        double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf" : double.IsNaN(v) ? "NaN" : v.ToString("R", CultureInfo.InvariantCulture);

    public void Dispose() => _listener.Dispose();

    private readonly record struct SeriesKey(Instrument Instrument, string? K0, object? V0, string? K1, object? V1, string? More);

    private sealed class Series(SeriesKey key, double[]? buckets)
    {
        private readonly Lock _lock = new();
        private readonly long[]? _counts = buckets == null ? null : new long[buckets.Length + 1];
        private double _value;
        private double _sum;
        private long _count;
        private readonly string _labels = BuildLabels(key);

        public SeriesKey Key => key;

        private static string BuildLabels(SeriesKey k)
        {
            var sb = new StringBuilder();
            if (k.K0 != null) AppendLabel(sb, k.K0, k.V0);
            if (k.K1 != null) AppendLabel(sb, k.K1, k.V1);
            if (k.More != null)
            {
                if (sb.Length > 0) sb.Append(',');
                sb.Append(k.More);
            }
            return sb.ToString();
        }

        public void Add(Instrument instrument, double v)
        {
            lock (_lock)
            {
                if (_counts != null)
                {
                    var i = 0;
                    while (i < buckets!.Length && v > buckets[i]) i++;
                    _counts[i]++;
                    _sum += v;
                    _count++;
                }
                else if (instrument is ObservableGauge<double> or ObservableGauge<long> or ObservableGauge<int> or Gauge<double> or Gauge<long>)
                {
                    _value = v;
                }
                else
                {
                    _value += v;
                }
            }
        }

        public void Write(StringBuilder sb, string name, string kind, string pipelineLabel)
        {
            var labels = _labels.Length == 0 ? pipelineLabel : pipelineLabel + "," + _labels;
            lock (_lock)
            {
                if (kind != "histogram")
                {
                    sb.Append(name).Append('{').Append(labels).Append("} ").Append(Format(_value)).Append('\n');
                    return;
                }
                long cumulative = 0;
                for (var i = 0; i < _counts!.Length; i++)
                {
                    cumulative += _counts[i];
                    var le = i < buckets!.Length ? Format(buckets[i]) : "+Inf";
                    sb.Append(name).Append("_bucket{").Append(labels).Append(",le=\"").Append(le).Append("\"} ").Append(cumulative).Append('\n');
                }
                sb.Append(name).Append("_sum{").Append(labels).Append("} ").Append(Format(_sum)).Append('\n');
                sb.Append(name).Append("_count{").Append(labels).Append("} ").Append(_count).Append('\n');
            }
        }
    }
}
