using AiEtl.Bench.Scenarios;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Memory;
using BenchmarkDotNet.Attributes;

namespace AiEtl.Bench.Micro;

/// <summary>Inputs shaped like one <c>core</c> batch: 65,536 rows, status uniform 0–9 (≈50% pass).</summary>
public abstract class KernelBenchmarkBase
{
    protected const int Rows = CoreData.BatchRows;
    protected int[] Status = [];
    protected int[] Selection = [];
    protected int Selected;

    protected void SetUpSelection()
    {
        var rng = new Random(42);
        Status = new int[Rows];
        for (var i = 0; i < Rows; i++) Status[i] = rng.Next(10);
        Selection = new int[Rows];
        Selected = CoreKernels.SelectLessThanScalar(Status, CoreData.StatusBound, Selection);
    }
}

/// <summary>Predicate <c>status &lt; 5</c> → int32 selection vector. Figures are per input row.</summary>
[MemoryDiagnoser]
public class SelectionBenchmarks : KernelBenchmarkBase
{
    [GlobalSetup]
    public void Setup() => SetUpSelection();

    [Benchmark(Baseline = true, OperationsPerInvoke = Rows)]
    public int Scalar_branchless() => CoreKernels.SelectLessThanScalar(Status, CoreData.StatusBound, Selection);

    [Benchmark(OperationsPerInvoke = Rows)]
    public int Avx512_compress() => CoreKernels.SelectLessThanAvx512(Status, CoreData.StatusBound, Selection);
}

/// <summary>Gather by a ≈50% selection vector (as the engine does per batch). Figures are per selected row.</summary>
[MemoryDiagnoser]
public class GatherBenchmarks : KernelBenchmarkBase
{
    private long[] _source = [];
    private long[] _destination = [];
    private double[] _amount = [];
    private long[] _qty = [];
    private double[] _total = [];

    [GlobalSetup]
    public void Setup()
    {
        SetUpSelection();
        _source = new long[Rows];
        for (var i = 0; i < Rows; i++) _source[i] = i * 31L;
        _destination = new long[Rows];
        _amount = new double[Rows];
        _qty = new long[Rows];
        _total = new double[Rows];
        for (var i = 0; i < Rows; i++)
        {
            _amount[i] = (i % 40_000) * 0.25;
            _qty[i] = 1 + i % 20;
        }
        // Make OperationsPerInvoke (a constant) match the selected count closely: the seed gives ≈ Rows / 2.
        if (Math.Abs(Selected - Rows / 2) > Rows / 50) throw new InvalidOperationException($"unexpected selectivity {Selected}");
    }

    [Benchmark(OperationsPerInvoke = Rows / 2)]
    public void Gather_int64() => CoreKernels.Gather(_source, Selection.AsSpan(0, Selected), _destination);

    /// <summary>The engine's fused form of <c>amount * qty</c> over the selected rows.</summary>
    [Benchmark(OperationsPerInvoke = Rows / 2)]
    public void Gather_multiply_float64_int64() => CoreKernels.GatherMultiply(_amount, _qty, Selection.AsSpan(0, Selected), _total);
}

/// <summary><c>amount * qty</c>: float64 × int64 → float64 over dense columns. Figures are per row.</summary>
[MemoryDiagnoser]
public class MultiplyBenchmarks
{
    private const int Rows = CoreData.BatchRows;
    private double[] _a = [];
    private long[] _b = [];
    private double[] _out = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        _a = new double[Rows];
        _b = new long[Rows];
        _out = new double[Rows];
        for (var i = 0; i < Rows; i++)
        {
            _a[i] = rng.Next(40_000) * 0.25;
            _b[i] = 1 + rng.Next(20);
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Rows)]
    public void Scalar_loop()
    {
        for (var i = 0; i < _a.Length; i++) _out[i] = _a[i] * _b[i];
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public void Kernel() => CoreKernels.Multiply(_a, _b, _out);
}

/// <summary>
/// Appending into pooled native column buffers. <c>Append_*</c> rewind with Truncate (no buffer turnover);
/// <c>Append_and_build</c> also builds the Arrow batch and disposes it (buffers back to the pool), which
/// shows the per-batch allocation spread over its rows. Figures are per row.
/// </summary>
[MemoryDiagnoser]
public class ColumnBuilderBenchmarks
{
    private const int Rows = CoreData.BatchRows;
    private readonly BufferPool _pool = new();
    private ColumnBuilder _int64 = null!;
    private ColumnBuilder _int32 = null!;
    private ColumnBuilder _nullable = null!;
    private ColumnBuilder _float64 = null!;
    private BatchBuilder _batch = null!;

    [GlobalSetup]
    public void Setup()
    {
        _int64 = new ColumnBuilder(ColumnKind.Int64, Rows, _pool);
        _int32 = new ColumnBuilder(ColumnKind.Int32, Rows, _pool);
        _nullable = new ColumnBuilder(ColumnKind.Int64, Rows, _pool);
        _float64 = new ColumnBuilder(ColumnKind.Float64, Rows, _pool);
        _batch = new BatchBuilder(new Apache.Arrow.Schema.Builder().Field(ColumnTypes.Field("v", ColumnKind.Int64, nullable: false)).Build(), Rows, _pool);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _int64.Release();
        _int32.Release();
        _nullable.Release();
        _float64.Release();
        _batch.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Rows)]
    public void Append_int64()
    {
        var b = _int64;
        for (var i = 0; i < Rows; i++) b.AppendInt64(i);
        b.Truncate(0);
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public void Append_int32()
    {
        var b = _int32;
        for (var i = 0; i < Rows; i++) b.AppendInt32(i);
        b.Truncate(0);
    }

    /// <summary>Every 8th value NULL: after the first null each append also sets its validity bit.</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public void Append_int64_with_nulls()
    {
        var b = _nullable;
        for (var i = 0; i < Rows; i++)
        {
            if ((i & 7) == 7) b.AppendNull();
            else b.AppendInt64(i);
        }
        b.Truncate(0);
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public void Append_float64()
    {
        var b = _float64;
        for (var i = 0; i < Rows; i++) b.AppendDouble(i * 0.5);
        b.Truncate(0);
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public int Append_and_build()
    {
        var c = _batch[0];
        for (var i = 0; i < Rows; i++) c.AppendInt64(i);
        using var batch = _batch.Build();
        return batch.Length;
    }
}
