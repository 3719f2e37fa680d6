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
/// dots become underscores and every series carries <c>pipeline</c>.
/// </summary>
/// <remarks>
/// The engine records per batch, never per row, from every task thread at once, so a measurement must cost next
/// to nothing and never block: each instrument carries its own state (handed to the listener callback), which
/// finds the series of an untagged or single-tag measurement by reference without hashing, and a series is
/// updated with interlocked operations only. A lock here would let one task thread, preempted while holding it,
/// stall every other task that records on the same series.
/// </remarks>
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
            if (ReferenceEquals(instrument.Meter, metrics.Meter)) listener.EnableMeasurementEvents(instrument, new InstrumentSeries(instrument, _series));
        };
        _listener.SetMeasurementEventCallback<long>(static (_, v, tags, state) => ((InstrumentSeries)state!).For(tags).Add(v));
        _listener.SetMeasurementEventCallback<double>(static (_, v, tags, state) => ((InstrumentSeries)state!).For(tags).Add(v));
        _listener.SetMeasurementEventCallback<int>(static (_, v, tags, state) => ((InstrumentSeries)state!).For(tags).Add(v));
        _listener.Start();
    }

    /// <summary>Extra gauges written with every scrape (e.g. readiness), name → value.</summary>
    public Func<IEnumerable<KeyValuePair<string, double>>>? ExtraGauges { get; set; }

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

    /// <summary>One instrument's series: the listener's per-instrument state.</summary>
    private sealed class InstrumentSeries(Instrument instrument, ConcurrentDictionary<SeriesKey, Series> all)
    {
        // Enough for every operator of a large plan; tags beyond it (or boxed values, never the same reference) take the dictionary.
        private const int MaxCached = 256;
        private readonly double[]? _buckets = BucketsFor(instrument);
        private readonly bool _gauge = instrument is ObservableGauge<double> or ObservableGauge<long> or ObservableGauge<int> or Gauge<double> or Gauge<long> or Gauge<int>;
        private Series? _untagged;
        // Copy-on-write: readers take the array as is; a new series publishes a longer copy.
        private Cached[] _single = [];
        private readonly Lock _grow = new();

        private sealed record Cached(string Key, object? Value, Series Series);

        public Series For(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length == 0) return _untagged ?? Lookup(tags);
            if (tags.Length == 1)
            {
                // The engine tags with the same key and value instances every time (built once per operator link).
                var (k, v) = tags[0];
                foreach (var c in Volatile.Read(ref _single))
                    if (ReferenceEquals(c.Value, v) && ReferenceEquals(c.Key, k)) return c.Series;
            }
            return Lookup(tags);
        }

        private Series Lookup(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var key = tags.Length switch
            {
                0 => new SeriesKey(instrument, null, null, null, null, null),
                1 => new SeriesKey(instrument, tags[0].Key, tags[0].Value, null, null, null),
                2 => new SeriesKey(instrument, tags[0].Key, tags[0].Value, tags[1].Key, tags[1].Value, null),
                _ => new SeriesKey(instrument, null, null, null, null, Labels(tags)),
            };
            if (!all.TryGetValue(key, out var series)) series = all.GetOrAdd(key, k => new Series(k, _buckets, _gauge));
            if (tags.Length == 0)
            {
                _untagged = series;
            }
            else if (tags.Length == 1 && tags[0].Value is string)
            {
                // A series is cached once, under the first instances seen: a caller that builds a new string per
                // measurement keeps taking the dictionary instead of growing the cache.
                lock (_grow)
                {
                    var current = _single;
                    if (current.Length < MaxCached && !Array.Exists(current, c => ReferenceEquals(c.Series, series)))
                        Volatile.Write(ref _single, [.. current, new Cached(tags[0].Key, tags[0].Value, series)]);
                }
            }
            return series;
        }
    }

    /// <summary>
    /// One series. Counters and histograms are updated with interlocked operations (never a lock, see the class
    /// remarks); a scrape reads them as they are, the histogram's <c>_count</c> being the sum of its buckets.
    /// </summary>
    private sealed class Series(SeriesKey key, double[]? buckets, bool gauge)
    {
        private readonly long[]? _counts = buckets == null ? null : new long[buckets.Length + 1];
        private readonly string[]? _le = buckets == null ? null : [.. buckets.Select(Format), "+Inf"];
        private double _value;
        private double _sum;
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

        public void Add(double v)
        {
            if (_counts != null)
            {
                var i = 0;
                while (i < buckets!.Length && v > buckets[i]) i++;
                Interlocked.Increment(ref _counts[i]);
                AddDouble(ref _sum, v);
            }
            else if (gauge)
            {
                Volatile.Write(ref _value, v);
            }
            else
            {
                AddDouble(ref _value, v);
            }
        }

        private static void AddDouble(ref double target, double v)
        {
            var current = Volatile.Read(ref target);
            while (true)
            {
                var seen = Interlocked.CompareExchange(ref target, current + v, current);
                // Compared bit for bit: NaN never equals itself.
                if (BitConverter.DoubleToInt64Bits(seen) == BitConverter.DoubleToInt64Bits(current)) return;
                current = seen;
            }
        }

        public void Write(StringBuilder sb, string name, string kind, string pipelineLabel)
        {
            var labels = _labels.Length == 0 ? pipelineLabel : pipelineLabel + "," + _labels;
            if (kind != "histogram")
            {
                sb.Append(name).Append('{').Append(labels).Append("} ").Append(Format(Volatile.Read(ref _value))).Append('\n');
                return;
            }
            long cumulative = 0;
            for (var i = 0; i < _counts!.Length; i++)
            {
                cumulative += Volatile.Read(ref _counts[i]);
                sb.Append(name).Append("_bucket{").Append(labels).Append(",le=\"").Append(_le![i]).Append("\"} ").Append(cumulative).Append('\n');
            }
            sb.Append(name).Append("_sum{").Append(labels).Append("} ").Append(Format(Volatile.Read(ref _sum))).Append('\n');
            sb.Append(name).Append("_count{").Append(labels).Append("} ").Append(cumulative).Append('\n');
        }
    }
}
