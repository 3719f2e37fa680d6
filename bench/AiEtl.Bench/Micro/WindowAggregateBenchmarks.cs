using System.Runtime.InteropServices;
using AiEtl.Bench.Scenarios;
using AiEtl.Engine;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Operators.Aggregation;
using AiEtl.Engine.Runtime;
using Apache.Arrow;
using BenchmarkDotNet.Attributes;

namespace AiEtl.Bench.Micro;

/// <summary>
/// The window operator's kernels on <c>window-agg</c>-shaped batches (65,536 rows, 100,000 keys, count/sum/avg,
/// 1-minute TUMBLE). Figures are per input row.
/// </summary>
[MemoryDiagnoser]
public class WindowAggregateBenchmarks
{
    private const int Rows = WindowAggData.BatchRows;
    private const int Windows = 8;
    private readonly Batch[] _batches = new Batch[Windows];
    private WindowAggregateOperator _steady = null!;
    private WindowAggregateOperator _rolling = null!;
    private readonly NullOutput _output = new();
    private EngineMetrics _metrics = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var rnd = new Random(3);
        for (var w = 0; w < Windows; w++)
        {
            using var b = new BatchBuilder(WindowAggData.Schema, Rows);
            for (var i = 0; i < Rows; i++)
            {
                b[WindowAggData.K].AppendInt64(rnd.Next(WindowAggData.Keys));
                b[WindowAggData.Ts].AppendInt64(WindowAggData.TsBase + w * WindowAggData.WindowMicros + rnd.NextInt64(WindowAggData.WindowMicros));
                b[WindowAggData.Amount].AppendDouble(rnd.Next(10_000) * 0.25);
            }
            _batches[w] = b.Build();
        }
        _metrics = new EngineMetrics("micro");
        _steady = Open();
        Done(_steady.ProcessAsync(_batches[0].Retain(), _output, default));
        _rolling = Open();
    }

    private WindowAggregateOperator Open()
    {
        var op = WindowAggEngine.CreateOperator();
        Done(op.OpenAsync(new OperatorContext
        {
            Task = new TaskInfo { Pipeline = "micro", Vertex = "agg", Index = 0, Parallelism = 1 },
            Metrics = _metrics,
            DeadLetters = new ThrowingDeadLetters(),
        }, null, default));
        return op;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Done(_steady.CloseAsync());
        Done(_rolling.CloseAsync());
        foreach (var b in _batches) b.Dispose();
        _metrics.Dispose();
    }

    /// <summary>Every row finds its (key, window) group: hash, probe, count/sum/avg update.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Rows)]
    public void Probe_and_update() => Done(_steady.ProcessAsync(_batches[0].Retain(), _output, default));

    /// <summary>
    /// Each batch opens a new window (≈48,000 new groups per batch), and the watermark then closes the one
    /// before: insert, update, emit and free — the steady state of a stream.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public void Insert_update_emit()
    {
        // Batch w covers window w; on each later turn it moves Windows windows ahead, so batch number n covers window n.
        var n = _next++;
        var b = _batches[n % Windows];
        if (n >= Windows)
        {
            var ts = MemoryMarshal.Cast<byte, long>(MemoryMarshal.AsMemory(b.Column(WindowAggData.Ts).Data.Buffers[1].Memory).Span);
            for (var r = 0; r < Rows; r++) ts[r] += Windows * WindowAggData.WindowMicros;
        }
        Done(_rolling.ProcessAsync(b.Retain(), _output, default));
        Done(_rolling.OnWatermarkAsync(WindowAggData.TsBase + n * WindowAggData.WindowMicros, _output, default));
    }

    private static void Done(ValueTask task)
    {
        if (!task.IsCompletedSuccessfully) task.AsTask().GetAwaiter().GetResult();
    }

    private sealed class NullOutput : IOutput
    {
        public long Rows;

        public ValueTask EmitAsync(Batch batch, CancellationToken ct)
        {
            Rows += batch.Length;
            batch.Dispose();
            return default;
        }
    }

    private sealed class ThrowingDeadLetters : IDeadLetterOutput
    {
        public long Count => 0;
        public void Write(DeadLetter letter) => throw new InvalidOperationException(letter.Error);
        public ValueTask FlushAsync(CancellationToken ct) => default;
        public ValueTask DisposeAsync() => default;
    }
}

/// <summary>HyperLogLog register update and estimate (approx_count_distinct). Figures are per value.</summary>
[MemoryDiagnoser]
public class HyperLogLogBenchmarks
{
    private const int Values = 65_536;
    private readonly long[] _values = new long[Values];
    private HyperLogLog _dense = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rnd = new Random(5);
        for (var i = 0; i < Values; i++) _values[i] = rnd.NextInt64();
        _dense = new HyperLogLog();
        foreach (var v in _values) _dense.Add(HyperLogLog.HashLong(v));
    }

    [Benchmark(OperationsPerInvoke = Values)]
    public void Add_dense()
    {
        var h = _dense;
        foreach (var v in _values) h.Add(HyperLogLog.HashLong(v));
    }

    [Benchmark]
    public long Estimate_dense() => _dense.Estimate();
}
