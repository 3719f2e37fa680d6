using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// Column-at-a-time kernels of the <c>hand_kernel</c> peer (the engine's own are in
/// src/Engine/AiEtl.Engine/Kernels), also measured one by one by the micro-benchmarks. All work on dense spans (Arrow <c>Values</c>, already offset) and never allocate.
/// </summary>
public static class CoreKernels
{
    /// <summary>
    /// Writes the indices <c>i</c> with <c>values[i] &lt; bound</c> into <paramref name="selection"/> and
    /// returns how many. Uses AVX-512 compress when the CPU has it, else <see cref="SelectLessThanScalar"/>.
    /// </summary>
    public static int SelectLessThan(ReadOnlySpan<int> values, int bound, Span<int> selection) =>
        Avx512F.IsSupported ? SelectLessThanAvx512(values, bound, selection) : SelectLessThanScalar(values, bound, selection);

    /// <summary>Branchless scalar selection: writes every index, advances only when the row passes.</summary>
    public static int SelectLessThanScalar(ReadOnlySpan<int> values, int bound, Span<int> selection)
    {
        if (selection.Length < values.Length) ThrowSelectionTooSmall();
        ref var v = ref MemoryMarshal.GetReference(values);
        ref var s = ref MemoryMarshal.GetReference(selection);
        var n = 0;
        for (var i = 0; i < values.Length; i++)
        {
            Unsafe.Add(ref s, n) = i;
            n += Unsafe.Add(ref v, i) < bound ? 1 : 0;
        }
        return n;
    }

    /// <summary>
    /// 16 rows per step: compare, compress the passing row indices to the front of a register, store all
    /// 16 lanes and advance by the pass count (the register form of compress; the memory form is slow on
    /// some cores). Safe because the write position never runs ahead of the read position.
    /// </summary>
    public static int SelectLessThanAvx512(ReadOnlySpan<int> values, int bound, Span<int> selection)
    {
        if (!Avx512F.IsSupported) return SelectLessThanScalar(values, bound, selection);
        if (selection.Length < values.Length) ThrowSelectionTooSmall();
        ref var v = ref MemoryMarshal.GetReference(values);
        ref var s = ref MemoryMarshal.GetReference(selection);
        var limit = Vector512.Create(bound);
        var step = Vector512.Create(Vector512<int>.Count);
        var index = Vector512.CreateSequence(0, 1);
        var n = 0;
        var i = 0;
        for (; i <= values.Length - Vector512<int>.Count; i += Vector512<int>.Count)
        {
            var x = Vector512.LoadUnsafe(ref v, (nuint)i);
            var mask = Avx512F.CompareLessThan(x, limit);
            var packed = Avx512F.Compress(Vector512<int>.Zero, mask, index);
            packed.StoreUnsafe(ref s, (nuint)n);
            n += BitOperations.PopCount(mask.ExtractMostSignificantBits());
            index += step;
        }
        for (; i < values.Length; i++)
        {
            Unsafe.Add(ref s, n) = i;
            n += Unsafe.Add(ref v, i) < bound ? 1 : 0;
        }
        return n;
    }

    /// <summary><c>dst[j] = src[selection[j]]</c> for every selected row.</summary>
    public static void Gather(ReadOnlySpan<long> src, ReadOnlySpan<int> selection, Span<long> dst)
    {
        if (dst.Length < selection.Length) ThrowDestinationTooSmall();
        ref var from = ref MemoryMarshal.GetReference(src);
        ref var sel = ref MemoryMarshal.GetReference(selection);
        ref var to = ref MemoryMarshal.GetReference(dst);
        var n = selection.Length;
        var max = (uint)src.Length;
        var j = 0;
        for (; j <= n - 4; j += 4)
        {
            var i0 = Unsafe.Add(ref sel, j);
            var i1 = Unsafe.Add(ref sel, j + 1);
            var i2 = Unsafe.Add(ref sel, j + 2);
            var i3 = Unsafe.Add(ref sel, j + 3);
            if ((uint)i0 >= max || (uint)i1 >= max || (uint)i2 >= max || (uint)i3 >= max) ThrowIndexOutOfRange();
            Unsafe.Add(ref to, j) = Unsafe.Add(ref from, i0);
            Unsafe.Add(ref to, j + 1) = Unsafe.Add(ref from, i1);
            Unsafe.Add(ref to, j + 2) = Unsafe.Add(ref from, i2);
            Unsafe.Add(ref to, j + 3) = Unsafe.Add(ref from, i3);
        }
        for (; j < n; j++)
        {
            var i0 = Unsafe.Add(ref sel, j);
            if ((uint)i0 >= max) ThrowIndexOutOfRange();
            Unsafe.Add(ref to, j) = Unsafe.Add(ref from, i0);
        }
    }

    /// <summary>Gather for float64 columns (same bits as int64).</summary>
    public static void Gather(ReadOnlySpan<double> src, ReadOnlySpan<int> selection, Span<double> dst) =>
        Gather(MemoryMarshal.Cast<double, long>(src), selection, MemoryMarshal.Cast<double, long>(dst));

    /// <summary><c>dst[j] = a[j] * (double)b[j]</c> (SQL <c>float64 * int64 → float64</c>).</summary>
    public static void Multiply(ReadOnlySpan<double> a, ReadOnlySpan<long> b, Span<double> dst)
    {
        var n = a.Length;
        if (b.Length != n) throw new ArgumentException("operands differ in length", nameof(b));
        if (dst.Length < n) ThrowDestinationTooSmall();
        ref var x = ref MemoryMarshal.GetReference(a);
        ref var y = ref MemoryMarshal.GetReference(b);
        ref var z = ref MemoryMarshal.GetReference(dst);
        var j = 0;
        if (Vector512.IsHardwareAccelerated && Avx512DQ.IsSupported)
        {
            for (; j <= n - Vector512<double>.Count; j += Vector512<double>.Count)
            {
                var p = Vector512.LoadUnsafe(ref x, (nuint)j) * Vector512.ConvertToDouble(Vector512.LoadUnsafe(ref y, (nuint)j));
                p.StoreUnsafe(ref z, (nuint)j);
            }
        }
        for (; j < n; j++) Unsafe.Add(ref z, j) = Unsafe.Add(ref x, j) * Unsafe.Add(ref y, j);
    }

    /// <summary><c>dst[j] = a[selection[j]] * (double)b[selection[j]]</c>: the multiply evaluated on the
    /// gathered rows without materialising the gathered operands.</summary>
    public static void GatherMultiply(ReadOnlySpan<double> a, ReadOnlySpan<long> b, ReadOnlySpan<int> selection, Span<double> dst)
    {
        if (b.Length != a.Length) throw new ArgumentException("operands differ in length", nameof(b));
        if (dst.Length < selection.Length) ThrowDestinationTooSmall();
        ref var x = ref MemoryMarshal.GetReference(a);
        ref var y = ref MemoryMarshal.GetReference(b);
        ref var sel = ref MemoryMarshal.GetReference(selection);
        ref var to = ref MemoryMarshal.GetReference(dst);
        var max = (uint)a.Length;
        var n = selection.Length;
        var j = 0;
        for (; j <= n - 2; j += 2)
        {
            var i0 = Unsafe.Add(ref sel, j);
            var i1 = Unsafe.Add(ref sel, j + 1);
            if ((uint)i0 >= max || (uint)i1 >= max) ThrowIndexOutOfRange();
            Unsafe.Add(ref to, j) = Unsafe.Add(ref x, i0) * Unsafe.Add(ref y, i0);
            Unsafe.Add(ref to, j + 1) = Unsafe.Add(ref x, i1) * Unsafe.Add(ref y, i1);
        }
        for (; j < n; j++)
        {
            var i0 = Unsafe.Add(ref sel, j);
            if ((uint)i0 >= max) ThrowIndexOutOfRange();
            Unsafe.Add(ref to, j) = Unsafe.Add(ref x, i0) * Unsafe.Add(ref y, i0);
        }
    }

    /// <summary>Sum with four independent accumulators (the sink's checksum; order does not matter for the
    /// exact values <c>core</c> generates).</summary>
    public static double Sum(ReadOnlySpan<double> values)
    {
        ref var v = ref MemoryMarshal.GetReference(values);
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        var j = 0;
        for (; j <= values.Length - 4; j += 4)
        {
            s0 += Unsafe.Add(ref v, j);
            s1 += Unsafe.Add(ref v, j + 1);
            s2 += Unsafe.Add(ref v, j + 2);
            s3 += Unsafe.Add(ref v, j + 3);
        }
        for (; j < values.Length; j++) s0 += Unsafe.Add(ref v, j);
        return s0 + s1 + (s2 + s3);
    }

    private static void ThrowSelectionTooSmall() =>
        throw new ArgumentException("the selection buffer must hold at least as many entries as the input has rows");

    private static void ThrowDestinationTooSmall() =>
        throw new ArgumentException("the destination is shorter than the selection");

    private static void ThrowIndexOutOfRange() =>
        throw new IndexOutOfRangeException("selection index outside the source column");
}
