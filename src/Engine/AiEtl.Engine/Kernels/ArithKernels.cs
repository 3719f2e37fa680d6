using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Kernels;

/// <summary>The five SQL arithmetic operators.</summary>
public enum ArithOp : byte
{
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// <summary>
/// Arithmetic on two numeric columns, either over every row (dense) or fused with a gather through a
/// selection vector: <c>r[j] = a[sel[j]] op b[sel[j]]</c>, reading both operands through the selection
/// without materialising gathered copies. Operands are int32 / int64 / float64 and are widened to the
/// result type (int32 → int64 → float64) as the SQL binder types them.
/// <para>
/// These are the fast path: they compute every row and report whether any row <em>may</em> need an error
/// (float64: a non-finite result; integers: an overflow, a zero divisor, or MIN / -1), looking neither at
/// validity nor at which rows. On false the caller runs its exact path, which decides the errors row by row
/// (NULL rows never fail); on true every result is final.
/// </para>
/// </summary>
public static class ArithKernels
{
    public static ArithOp Parse(string symbol) => symbol switch
    {
        "+" => ArithOp.Add,
        "-" => ArithOp.Sub,
        "*" => ArithOp.Mul,
        "/" => ArithOp.Div,
        "%" => ArithOp.Rem,
        _ => throw new ArgumentException($"not an arithmetic operator: '{symbol}'", nameof(symbol)),
    };

    /// <summary>
    /// <c>result[j] = a[row(j)] op b[row(j)]</c> in <paramref name="resultKind"/> (Int32, Int64 or Float64),
    /// where <c>row(j) = selection[j]</c>, or <c>j</c> when <paramref name="dense"/> (then
    /// <paramref name="selection"/> is ignored and both arrays must hold <c>result.Length</c> rows).
    /// <paramref name="result"/> is the raw output (4 or 8 bytes per row). Returns false when some row may
    /// need an error (see the type summary).
    /// </summary>
    public static bool Evaluate(ArithOp op, ColumnKind resultKind, IArrowArray a, IArrowArray b, ReadOnlySpan<int> selection, bool dense, Span<byte> result)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var ka = ColumnTypes.FromArrow(a.Data.DataType);
        var kb = ColumnTypes.FromArrow(b.Data.DataType);
        switch (resultKind)
        {
            case ColumnKind.Float64:
            {
                var r = MemoryMarshal.Cast<byte, double>(result);
                return (ka, kb) switch
                {
                    (ColumnKind.Float64, ColumnKind.Float64) => Float64(op, Gather.Values<double>(a), Gather.Values<double>(b), selection, dense, r),
                    (ColumnKind.Float64, ColumnKind.Int64) => Float64(op, Gather.Values<double>(a), Gather.Values<long>(b), selection, dense, r),
                    (ColumnKind.Float64, ColumnKind.Int32) => Float64(op, Gather.Values<double>(a), Gather.Values<int>(b), selection, dense, r),
                    (ColumnKind.Int64, ColumnKind.Float64) => Float64(op, Gather.Values<long>(a), Gather.Values<double>(b), selection, dense, r),
                    (ColumnKind.Int32, ColumnKind.Float64) => Float64(op, Gather.Values<int>(a), Gather.Values<double>(b), selection, dense, r),
                    (ColumnKind.Int64, ColumnKind.Int64) => Float64(op, Gather.Values<long>(a), Gather.Values<long>(b), selection, dense, r),
                    (ColumnKind.Int64, ColumnKind.Int32) => Float64(op, Gather.Values<long>(a), Gather.Values<int>(b), selection, dense, r),
                    (ColumnKind.Int32, ColumnKind.Int64) => Float64(op, Gather.Values<int>(a), Gather.Values<long>(b), selection, dense, r),
                    (ColumnKind.Int32, ColumnKind.Int32) => Float64(op, Gather.Values<int>(a), Gather.Values<int>(b), selection, dense, r),
                    _ => throw Unsupported(ka, kb, resultKind),
                };
            }
            case ColumnKind.Int64:
            {
                var r = MemoryMarshal.Cast<byte, long>(result);
                return (ka, kb) switch
                {
                    (ColumnKind.Int64, ColumnKind.Int64) => Int64(op, Gather.Values<long>(a), Gather.Values<long>(b), selection, dense, r),
                    (ColumnKind.Int64, ColumnKind.Int32) => Int64(op, Gather.Values<long>(a), Gather.Values<int>(b), selection, dense, r),
                    (ColumnKind.Int32, ColumnKind.Int64) => Int64(op, Gather.Values<int>(a), Gather.Values<long>(b), selection, dense, r),
                    (ColumnKind.Int32, ColumnKind.Int32) => Int64(op, Gather.Values<int>(a), Gather.Values<int>(b), selection, dense, r),
                    _ => throw Unsupported(ka, kb, resultKind),
                };
            }
            case ColumnKind.Int32 when ka == ColumnKind.Int32 && kb == ColumnKind.Int32:
                return Int32(op, Gather.Values<int>(a), Gather.Values<int>(b), selection, dense, MemoryMarshal.Cast<byte, int>(result));
            default:
                throw Unsupported(ka, kb, resultKind);
        }
    }

    /// <summary>Float64 result; true when every result is finite.</summary>
    public static bool Float64<TA, TB>(ArithOp op, ReadOnlySpan<TA> a, ReadOnlySpan<TB> b, ReadOnlySpan<int> selection, bool dense, Span<double> result)
        where TA : unmanaged, INumber<TA>
        where TB : unmanaged, INumber<TB>
    {
        Check(a.Length, b.Length, selection.Length, dense, result.Length);
        if (dense)
        {
            return op switch
            {
                ArithOp.Add => RunFloat<TA, TB, DenseRows, AddF>(a, b, selection, result),
                ArithOp.Sub => RunFloat<TA, TB, DenseRows, SubF>(a, b, selection, result),
                ArithOp.Mul => RunFloat<TA, TB, DenseRows, MulF>(a, b, selection, result),
                ArithOp.Div => RunFloat<TA, TB, DenseRows, DivF>(a, b, selection, result),
                _ => RunFloat<TA, TB, DenseRows, RemF>(a, b, selection, result),
            };
        }
        return op switch
        {
            ArithOp.Add => RunFloat<TA, TB, SelectedRows, AddF>(a, b, selection, result),
            ArithOp.Sub => RunFloat<TA, TB, SelectedRows, SubF>(a, b, selection, result),
            ArithOp.Mul => RunFloat<TA, TB, SelectedRows, MulF>(a, b, selection, result),
            ArithOp.Div => RunFloat<TA, TB, SelectedRows, DivF>(a, b, selection, result),
            _ => RunFloat<TA, TB, SelectedRows, RemF>(a, b, selection, result),
        };
    }

    /// <summary>Int64 result (int32 operands sign-extended); true when no row overflows or divides by zero.</summary>
    public static bool Int64<TA, TB>(ArithOp op, ReadOnlySpan<TA> a, ReadOnlySpan<TB> b, ReadOnlySpan<int> selection, bool dense, Span<long> result)
        where TA : unmanaged, IBinaryInteger<TA>
        where TB : unmanaged, IBinaryInteger<TB>
    {
        Check(a.Length, b.Length, selection.Length, dense, result.Length);
        long flags;
        if (dense)
        {
            flags = op switch
            {
                ArithOp.Add => RunInt64<TA, TB, DenseRows, AddI>(a, b, selection, result),
                ArithOp.Sub => RunInt64<TA, TB, DenseRows, SubI>(a, b, selection, result),
                ArithOp.Mul => RunInt64<TA, TB, DenseRows, MulI>(a, b, selection, result),
                ArithOp.Div => RunInt64<TA, TB, DenseRows, DivI>(a, b, selection, result),
                _ => RunInt64<TA, TB, DenseRows, RemI>(a, b, selection, result),
            };
        }
        else
        {
            flags = op switch
            {
                ArithOp.Add => RunInt64<TA, TB, SelectedRows, AddI>(a, b, selection, result),
                ArithOp.Sub => RunInt64<TA, TB, SelectedRows, SubI>(a, b, selection, result),
                ArithOp.Mul => RunInt64<TA, TB, SelectedRows, MulI>(a, b, selection, result),
                ArithOp.Div => RunInt64<TA, TB, SelectedRows, DivI>(a, b, selection, result),
                _ => RunInt64<TA, TB, SelectedRows, RemI>(a, b, selection, result),
            };
        }
        return flags == 0;
    }

    /// <summary>Int32 result (computed in int64, then range-checked); true when no row leaves the int32 range or divides by zero.</summary>
    public static bool Int32(ArithOp op, ReadOnlySpan<int> a, ReadOnlySpan<int> b, ReadOnlySpan<int> selection, bool dense, Span<int> result)
    {
        Check(a.Length, b.Length, selection.Length, dense, result.Length);
        long flags;
        if (dense)
        {
            flags = op switch
            {
                ArithOp.Add => RunInt32<DenseRows, AddI>(a, b, selection, result),
                ArithOp.Sub => RunInt32<DenseRows, SubI>(a, b, selection, result),
                ArithOp.Mul => RunInt32<DenseRows, MulI>(a, b, selection, result),
                ArithOp.Div => RunInt32<DenseRows, DivI>(a, b, selection, result),
                _ => RunInt32<DenseRows, RemI>(a, b, selection, result),
            };
        }
        else
        {
            flags = op switch
            {
                ArithOp.Add => RunInt32<SelectedRows, AddI>(a, b, selection, result),
                ArithOp.Sub => RunInt32<SelectedRows, SubI>(a, b, selection, result),
                ArithOp.Mul => RunInt32<SelectedRows, MulI>(a, b, selection, result),
                ArithOp.Div => RunInt32<SelectedRows, DivI>(a, b, selection, result),
                _ => RunInt32<SelectedRows, RemI>(a, b, selection, result),
            };
        }
        return flags == 0;
    }

    /// <summary>True when no value is ±∞ or NaN (true for an empty span). Vectorized: an exponent of all ones marks a non-finite value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool AllFinite(ReadOnlySpan<double> values)
    {
        var bits = MemoryMarshal.Cast<double, ulong>(values);
        const ulong Exponent = 0x7FF0_0000_0000_0000;
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var exp = Vector512.Create(Exponent);
            var any = Vector512<ulong>.Zero;
            ref var b = ref MemoryMarshal.GetReference(bits);
            for (; i <= bits.Length - 8; i += 8)
                any |= Vector512.Equals(Vector512.LoadUnsafe(ref b, (nuint)i) & exp, exp);
            if (any != Vector512<ulong>.Zero) return false;
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var exp = Vector256.Create(Exponent);
            var any = Vector256<ulong>.Zero;
            ref var b = ref MemoryMarshal.GetReference(bits);
            for (; i <= bits.Length - 4; i += 4)
                any |= Vector256.Equals(Vector256.LoadUnsafe(ref b, (nuint)i) & exp, exp);
            if (any != Vector256<ulong>.Zero) return false;
        }
        for (; i < bits.Length; i++)
            if ((bits[i] & Exponent) == Exponent) return false;
        return true;
    }

    private static void Check(int a, int b, int selected, bool dense, int result)
    {
        if (dense)
        {
            if (a < result || b < result) throw new ArgumentException("dense operands are shorter than the result");
        }
        else if (result < selected)
        {
            throw new ArgumentException("the result is shorter than the selection");
        }
    }

    // 4 rows per step; the selected-rows form checks each index against both operands. Finiteness is
    // tracked on the way (x - x is 0 for a finite x and NaN otherwise) instead of in a second pass.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool RunFloat<TA, TB, TRows, TOp>(ReadOnlySpan<TA> a, ReadOnlySpan<TB> b, ReadOnlySpan<int> selection, Span<double> result)
        where TA : unmanaged, INumber<TA>
        where TB : unmanaged, INumber<TB>
        where TRows : struct, IRows
        where TOp : struct, IFloatOp
    {
        ref var x = ref MemoryMarshal.GetReference(a);
        ref var y = ref MemoryMarshal.GetReference(b);
        ref var sel = ref MemoryMarshal.GetReference(selection);
        ref var r = ref MemoryMarshal.GetReference(result);
        var n = TRows.Count(selection.Length, result.Length);
        var max = (uint)Math.Min(a.Length, b.Length);
        double z0 = 0, z1 = 0, z2 = 0, z3 = 0;
        var j = 0;
        for (; j <= n - 4; j += 4)
        {
            var i0 = TRows.Row(ref sel, j);
            var i1 = TRows.Row(ref sel, j + 1);
            var i2 = TRows.Row(ref sel, j + 2);
            var i3 = TRows.Row(ref sel, j + 3);
            if (TRows.Checked && ((uint)i0 >= max || (uint)i1 >= max || (uint)i2 >= max || (uint)i3 >= max)) ThrowIndexOutOfRange();
            var v0 = TOp.Apply(double.CreateTruncating(Unsafe.Add(ref x, i0)), double.CreateTruncating(Unsafe.Add(ref y, i0)));
            var v1 = TOp.Apply(double.CreateTruncating(Unsafe.Add(ref x, i1)), double.CreateTruncating(Unsafe.Add(ref y, i1)));
            var v2 = TOp.Apply(double.CreateTruncating(Unsafe.Add(ref x, i2)), double.CreateTruncating(Unsafe.Add(ref y, i2)));
            var v3 = TOp.Apply(double.CreateTruncating(Unsafe.Add(ref x, i3)), double.CreateTruncating(Unsafe.Add(ref y, i3)));
            Unsafe.Add(ref r, j) = v0;
            Unsafe.Add(ref r, j + 1) = v1;
            Unsafe.Add(ref r, j + 2) = v2;
            Unsafe.Add(ref r, j + 3) = v3;
            z0 += v0 - v0;
            z1 += v1 - v1;
            z2 += v2 - v2;
            z3 += v3 - v3;
        }
        for (; j < n; j++)
        {
            var i0 = TRows.Row(ref sel, j);
            if (TRows.Checked && (uint)i0 >= max) ThrowIndexOutOfRange();
            var v0 = TOp.Apply(double.CreateTruncating(Unsafe.Add(ref x, i0)), double.CreateTruncating(Unsafe.Add(ref y, i0)));
            Unsafe.Add(ref r, j) = v0;
            z0 += v0 - v0;
        }
        return !double.IsNaN(z0 + z1 + (z2 + z3));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long RunInt64<TA, TB, TRows, TOp>(ReadOnlySpan<TA> a, ReadOnlySpan<TB> b, ReadOnlySpan<int> selection, Span<long> result)
        where TA : unmanaged, IBinaryInteger<TA>
        where TB : unmanaged, IBinaryInteger<TB>
        where TRows : struct, IRows
        where TOp : struct, IIntOp
    {
        ref var x = ref MemoryMarshal.GetReference(a);
        ref var y = ref MemoryMarshal.GetReference(b);
        ref var sel = ref MemoryMarshal.GetReference(selection);
        ref var r = ref MemoryMarshal.GetReference(result);
        var n = TRows.Count(selection.Length, result.Length);
        var max = (uint)Math.Min(a.Length, b.Length);
        long flags = 0;
        var j = 0;
        for (; j <= n - 4; j += 4)
        {
            var i0 = TRows.Row(ref sel, j);
            var i1 = TRows.Row(ref sel, j + 1);
            var i2 = TRows.Row(ref sel, j + 2);
            var i3 = TRows.Row(ref sel, j + 3);
            if (TRows.Checked && ((uint)i0 >= max || (uint)i1 >= max || (uint)i2 >= max || (uint)i3 >= max)) ThrowIndexOutOfRange();
            Unsafe.Add(ref r, j) = TOp.Apply(long.CreateTruncating(Unsafe.Add(ref x, i0)), long.CreateTruncating(Unsafe.Add(ref y, i0)), ref flags);
            Unsafe.Add(ref r, j + 1) = TOp.Apply(long.CreateTruncating(Unsafe.Add(ref x, i1)), long.CreateTruncating(Unsafe.Add(ref y, i1)), ref flags);
            Unsafe.Add(ref r, j + 2) = TOp.Apply(long.CreateTruncating(Unsafe.Add(ref x, i2)), long.CreateTruncating(Unsafe.Add(ref y, i2)), ref flags);
            Unsafe.Add(ref r, j + 3) = TOp.Apply(long.CreateTruncating(Unsafe.Add(ref x, i3)), long.CreateTruncating(Unsafe.Add(ref y, i3)), ref flags);
        }
        for (; j < n; j++)
        {
            var i0 = TRows.Row(ref sel, j);
            if (TRows.Checked && (uint)i0 >= max) ThrowIndexOutOfRange();
            Unsafe.Add(ref r, j) = TOp.Apply(long.CreateTruncating(Unsafe.Add(ref x, i0)), long.CreateTruncating(Unsafe.Add(ref y, i0)), ref flags);
        }
        return flags;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long RunInt32<TRows, TOp>(ReadOnlySpan<int> a, ReadOnlySpan<int> b, ReadOnlySpan<int> selection, Span<int> result)
        where TRows : struct, IRows
        where TOp : struct, IIntOp
    {
        ref var x = ref MemoryMarshal.GetReference(a);
        ref var y = ref MemoryMarshal.GetReference(b);
        ref var sel = ref MemoryMarshal.GetReference(selection);
        ref var r = ref MemoryMarshal.GetReference(result);
        var n = TRows.Count(selection.Length, result.Length);
        var max = (uint)Math.Min(a.Length, b.Length);
        long flags = 0;
        for (var j = 0; j < n; j++)
        {
            var i = TRows.Row(ref sel, j);
            if (TRows.Checked && (uint)i >= max) ThrowIndexOutOfRange();
            var v = TOp.Apply(Unsafe.Add(ref x, i), Unsafe.Add(ref y, i), ref flags);
            flags |= v ^ (int)v;
            Unsafe.Add(ref r, j) = (int)v;
        }
        return flags;
    }

    private static NotSupportedException Unsupported(ColumnKind a, ColumnKind b, ColumnKind result) =>
        new($"no arithmetic kernel for {a} and {b} into {result}");

    private static void ThrowIndexOutOfRange() =>
        throw new IndexOutOfRangeException("selection index outside the operand columns");
}

/// <summary>Row addressing of a kernel: every row in order, or the rows of a selection vector.</summary>
internal interface IRows
{
    static abstract bool Checked { get; }
    static abstract int Count(int selected, int resultLength);
    static abstract int Row(ref int selection, int j);
}

internal struct DenseRows : IRows
{
    public static bool Checked => false;
    public static int Count(int selected, int resultLength) => resultLength;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Row(ref int selection, int j) => j;
}

internal struct SelectedRows : IRows
{
    public static bool Checked => true;
    public static int Count(int selected, int resultLength) => selected;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Row(ref int selection, int j) => Unsafe.Add(ref selection, j);
}

internal interface IFloatOp
{
    static abstract double Apply(double x, double y);
}

internal struct AddF : IFloatOp { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Apply(double x, double y) => x + y; }
internal struct SubF : IFloatOp { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Apply(double x, double y) => x - y; }
internal struct MulF : IFloatOp { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Apply(double x, double y) => x * y; }
internal struct DivF : IFloatOp { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Apply(double x, double y) => x / y; }
/// <summary>A zero divisor gives NaN, which flags the batch for the exact path (which reports it).</summary>
internal struct RemF : IFloatOp { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Apply(double x, double y) => x % y; }

/// <summary>Int64 arithmetic that ORs a non-zero value into <c>flags</c> when a row may need an error.</summary>
internal interface IIntOp
{
    static abstract long Apply(long x, long y, ref long flags);
}

internal struct AddI : IIntOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Apply(long x, long y, ref long flags)
    {
        var v = x + y;
        flags |= ((x ^ v) & (y ^ v)) >> 63;
        return v;
    }
}

internal struct SubI : IIntOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Apply(long x, long y, ref long flags)
    {
        var v = x - y;
        flags |= ((x ^ y) & (x ^ v)) >> 63;
        return v;
    }
}

internal struct MulI : IIntOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Apply(long x, long y, ref long flags)
    {
        var hi = Math.BigMul(x, y, out var lo);
        flags |= hi ^ (lo >> 63);
        return lo;
    }
}

internal struct DivI : IIntOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Apply(long x, long y, ref long flags)
    {
        if (y == 0 || (y == -1 && x == long.MinValue))
        {
            flags |= 1;
            return 0;
        }
        return x / y;
    }
}

internal struct RemI : IIntOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Apply(long x, long y, ref long flags)
    {
        if (y == 0)
        {
            flags |= 1;
            return 0;
        }
        return y == -1 ? 0 : x % y;
    }
}
