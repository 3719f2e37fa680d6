using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using AiEtl.Engine.Runtime;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>
/// Records every measurement of one <see cref="EngineMetrics"/> instance through a <see cref="MeterListener"/>
/// on the <c>AiEtl.Engine</c> meter. Tests run in parallel and every pipeline's meter has the same name, so the
/// metrics are created through this capture's own <see cref="IMeterFactory"/> and only its meters are listened to.
/// </summary>
public sealed class MeterCapture : IMeterFactory
{
    private readonly List<Meter> _meters = [];
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<Measurement> _measurements = new();

    public readonly record struct Measurement(string Instrument, double Value, string? Operator);

    public MeterCapture()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == EngineMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, this))
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
        Metrics = new EngineMetrics("test", this);
    }

    /// <summary>The metrics to give the job; only its instruments are captured.</summary>
    public EngineMetrics Metrics { get; }

    public Meter Create(MeterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var meter = new Meter(options.Name, options.Version, options.Tags, this);
        lock (_meters) _meters.Add(meter);
        return meter;
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? op = null;
        foreach (var t in tags)
            if (t.Key == "operator") op = t.Value as string;
        _measurements.Enqueue(new Measurement(instrument.Name, value, op));
    }

    public IReadOnlyList<Measurement> Of(string instrument, string? op = null) =>
        _measurements.Where(m => m.Instrument == instrument && (op == null || m.Operator == op)).ToList();

    public double Sum(string instrument, string? op = null) => Of(instrument, op).Sum(m => m.Value);

    public int Count(string instrument, string? op = null) => Of(instrument, op).Count;

    /// <summary>The operator tags seen on an instrument.</summary>
    public IReadOnlyList<string?> Operators(string instrument) => Of(instrument).Select(m => m.Operator).Distinct().Order().ToList();

    public void Dispose()
    {
        _listener.Dispose();
        Metrics.Dispose();
        lock (_meters)
            foreach (var m in _meters) m.Dispose();
    }
}
