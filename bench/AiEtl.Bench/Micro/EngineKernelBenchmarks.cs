using AiEtl.Bench.Scenarios;
using AiEtl.Engine;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Operators;
using BenchmarkDotNet.Attributes;

namespace AiEtl.Bench.Micro;

/// <summary>
/// The engine's selection kernels (src/Engine/AiEtl.Engine/Kernels/Selection.cs) on one <c>core</c>-shaped
/// batch: 65,536 rows, values uniform 0–9, constant 5 (≈50% pass). Figures are per input row.
/// </summary>
[MemoryDiagnoser]
public class EngineSelectionBenchmarks
{
    private const int Rows = CoreData.BatchRows;
    private int[] _int32 = [];
    private long[] _int64 = [];
    private double[] _float64 = [];
    private byte[] _validity = [];
    private int[] _selection = [];
    private int[] _half = [];
    private int _halfCount;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        _int32 = new int[Rows];
        _int64 = new long[Rows];
        _float64 = new double[Rows];
        for (var i = 0; i < Rows; i++)
        {
            _int32[i] = rng.Next(10);
            _int64[i] = rng.Next(10);
            _float64[i] = rng.Next(10) * 0.5;
        }
        _validity = new byte[Rows / 8];
        for (var i = 0; i < Rows; i++) if (rng.Next(10) != 0) _validity[i >> 3] |= (byte)(1 << (i & 7));
        _selection = new int[Rows];
        _half = new int[Rows];
        _halfCount = SelectionKernels.Select(_int32, default, 0, CompareOp.Lt, 5, _half);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Rows)]
    public int Int32_lt_auto() => SelectionKernels.Select(_int32, default, 0, CompareOp.Lt, 5, _selection);

    [Benchmark(OperationsPerInvoke = Rows)]
    public int Int32_lt_vector256() => SelectionKernels.Select<int>(_int32, default, 0, CompareOp.Lt, 5, _selection, SelectionKernels.Path.Vector256);

    [Benchmark(OperationsPerInvoke = Rows)]
    public int Int32_lt_scalar() => SelectionKernels.Select<int>(_int32, default, 0, CompareOp.Lt, 5, _selection, SelectionKernels.Path.Scalar);

    /// <summary>10% NULLs: the validity bits are ANDed into the compare mask.</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public int Int32_lt_nullable() => SelectionKernels.Select(_int32, _validity, 0, CompareOp.Lt, 5, _selection);

    [Benchmark(OperationsPerInvoke = Rows)]
    public int Int64_ge_auto() => SelectionKernels.Select(_int64, default, 0, CompareOp.Ge, 5L, _selection);

    [Benchmark(OperationsPerInvoke = Rows)]
    public int Float64_gt_auto() => SelectionKernels.Select(_float64, default, 0, CompareOp.Gt, 2.0, _selection);

    /// <summary>Selection after selection: an int64 comparison on the ≈50% already selected (per input row of the batch).</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public int Int64_refine_half()
    {
        _half.AsSpan(0, _halfCount).CopyTo(_selection);
        return SelectionKernels.Refine(_int64, default, 0, CompareOp.Ne, 3L, _selection, _halfCount);
    }
}

/// <summary>
/// The engine's gather and arithmetic kernels under a ≈50% selection (src/Engine/AiEtl.Engine/Kernels/ArithKernels.cs,
/// Gather.cs). Figures are per selected row.
/// </summary>
[MemoryDiagnoser]
public class EngineArithBenchmarks
{
    private const int Rows = CoreData.BatchRows;
    private const int Selected = Rows / 2;
    private double[] _amount = [];
    private long[] _qty = [];
    private long[] _id = [];
    private int[] _selection = [];
    private double[] _total = [];
    private long[] _sum = [];
    private double[] _gatheredAmount = [];
    private long[] _gatheredQty = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        _amount = new double[Rows];
        _qty = new long[Rows];
        _id = new long[Rows];
        for (var i = 0; i < Rows; i++)
        {
            _amount[i] = rng.Next(40_000) * 0.25;
            _qty[i] = 1 + rng.Next(20);
            _id[i] = i;
        }
        // Exactly Rows / 2 selected rows, in order, spread like a 50% filter.
        _selection = [.. Enumerable.Range(0, Rows).Where(_ => rng.Next(2) == 0).Concat(Enumerable.Range(0, Rows)).Distinct().Take(Selected).Order()];
        _total = new double[Selected];
        _sum = new long[Selected];
        _gatheredAmount = new double[Selected];
        _gatheredQty = new long[Selected];
    }

    /// <summary><c>amount * qty</c> (float64 × int64) read through the selection: the engine's fused form.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Selected)]
    public bool Fused_gather_multiply_float64_int64() =>
        ArithKernels.Float64<double, long>(ArithOp.Mul, _amount, _qty, _selection, dense: false, _total);

    /// <summary>The unfused form the engine used before: gather both operands, convert, multiply densely.</summary>
    [Benchmark(OperationsPerInvoke = Selected)]
    public unsafe void Gather_then_multiply_float64_int64()
    {
        fixed (double* a = _gatheredAmount)
        fixed (long* q = _gatheredQty)
        {
            Gather.GatherFixed<double>(_amount, _selection, a);
            Gather.GatherFixed<long>(_qty, _selection, q);
        }
        for (var j = 0; j < Selected; j++) _total[j] = _gatheredQty[j];
        System.Numerics.Tensors.TensorPrimitives.Multiply(_gatheredAmount, _total, _total);
    }

    /// <summary><c>id + qty</c> (int64, overflow-checked) read through the selection.</summary>
    [Benchmark(OperationsPerInvoke = Selected)]
    public bool Fused_gather_add_int64_checked() =>
        ArithKernels.Int64<long, long>(ArithOp.Add, _id, _qty, _selection, dense: false, _sum);

    [Benchmark(OperationsPerInvoke = Selected)]
    public unsafe void Gather_int64()
    {
        fixed (long* d = _sum) Gather.GatherFixed<long>(_id, _selection, d);
    }
}

/// <summary>
/// <c>FilterProjectOperator.Apply</c> on one <c>core</c> batch (<c>status &lt; 5</c> →
/// <c>id, customer_id, amount * qty AS total, ts</c>), the output disposed (buffers back to the pool).
/// Figures are per input row; the allocation column is the per-batch Arrow objects spread over 65,536 rows.
/// </summary>
[MemoryDiagnoser]
public class FilterProjectOperatorBenchmarks
{
    private List<Batch> _input = [];
    private FilterProjectOperator _kernels = null!;
    private FilterProjectOperator _booleanPath = null!;

    [GlobalSetup]
    public void Setup()
    {
        _input = CoreData.Generate(CoreData.BatchRows);
        var binder = new Binder(CoreData.Schema);
        var projections = CoreEngine.Select.Select(ExprParser.ParseNamed).Select(n => (n.Alias ?? ((ColumnRef)n.Expr).Name, binder.Bind(n.Expr))).ToList();
        _kernels = new FilterProjectOperator(CoreData.Schema, binder.Bind(ExprParser.Parse(CoreEngine.Filter)), projections);
        // Same rows, but a predicate shape the selection kernels do not take: the boolean-column path.
        _booleanPath = new FilterProjectOperator(CoreData.Schema, binder.Bind(ExprParser.Parse($"({CoreEngine.Filter}) OR FALSE")), projections);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in _input) b.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = CoreData.BatchRows)]
    public int Selection_kernels()
    {
        using var output = _kernels.Apply(_input[0]);
        return output!.Length;
    }

    [Benchmark(OperationsPerInvoke = CoreData.BatchRows)]
    public int Boolean_column_path()
    {
        using var output = _booleanPath.Apply(_input[0]);
        return output!.Length;
    }
}
