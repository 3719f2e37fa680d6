using System.Diagnostics.Metrics;

namespace AiEtl.Engine.Runtime;

/// <summary>
/// The engine's OpenTelemetry instruments (one <see cref="Meter"/> named <c>AiEtl.Engine</c>).
/// Counters are tagged with pipeline and operator; live totals are also kept here for the CLI progress line.
/// </summary>
public sealed class EngineMetrics : IDisposable
{
    public const string MeterName = "AiEtl.Engine";

    private readonly Meter _meter;

    public EngineMetrics(string pipeline, IMeterFactory? factory = null)
    {
        Pipeline = pipeline;
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName, "1.0");
        RowsIn = _meter.CreateCounter<long>("aietl.operator.rows_in", "{row}", "Rows received by an operator");
        RowsOut = _meter.CreateCounter<long>("aietl.operator.rows_out", "{row}", "Rows emitted by an operator");
        BytesIn = _meter.CreateCounter<long>("aietl.operator.bytes_in", "By", "Bytes received by an operator");
        BytesOut = _meter.CreateCounter<long>("aietl.operator.bytes_out", "By", "Bytes emitted by an operator");
        BatchLatency = _meter.CreateHistogram<double>("aietl.operator.batch_latency", "ms", "Time for a task to push one batch through its operator chain (waits for downstream credit included)");
        BackpressureTime = _meter.CreateCounter<double>("aietl.edge.backpressure_time", "ms", "Time spent blocked writing to a full edge");
        CheckpointDuration = _meter.CreateHistogram<double>("aietl.checkpoint.duration", "ms", "Checkpoint duration, trigger to completion");
        CheckpointSize = _meter.CreateHistogram<long>("aietl.checkpoint.size", "By", "Bytes of state in a checkpoint");
        DeadLetterCount = _meter.CreateCounter<long>("aietl.dead_letters", "{record}", "Records sent to the dead-letter output");
        LateRows = _meter.CreateCounter<long>("aietl.late_rows", "{row}", "Rows behind the watermark sent to the late side output");
        _meter.CreateObservableGauge("aietl.watermark_lag", () => WatermarkLagMs, "ms", "Wall clock minus the current watermark");
    }

    public string Pipeline { get; }
    /// <summary>The meter of this run's instruments (listeners select a run's instruments by it).</summary>
    public Meter Meter => _meter;
    public Counter<long> RowsIn { get; }
    public Counter<long> RowsOut { get; }
    public Counter<long> BytesIn { get; }
    public Counter<long> BytesOut { get; }
    public Histogram<double> BatchLatency { get; }
    public Counter<double> BackpressureTime { get; }
    public Histogram<double> CheckpointDuration { get; }
    public Histogram<long> CheckpointSize { get; }
    public Counter<long> DeadLetterCount { get; }
    public Counter<long> LateRows { get; }

    // Live totals for the progress line (updated per batch, not per row).
    public long SourceRows;
    public long SinkRows;
    public long DeadLetters;
    public long BackpressureTicks;
    public long CheckpointsCompleted;
    public double WatermarkLagMs;

    public void Dispose() => _meter.Dispose();
}
