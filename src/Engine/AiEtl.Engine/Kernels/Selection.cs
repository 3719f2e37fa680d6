using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Kernels;

/// <summary>
/// Selection vectors straight from a comparison with a constant (<c>column op constant</c>): the indexes of
/// the rows that pass, in order. A NULL never passes. <see cref="Select{T}"/> scans every row (AVX-512
/// compress where available, else Vector256 compare + a lookup-table expansion, else branchless scalar);
/// <see cref="Refine{T}"/> narrows an existing selection in place (AND of several comparisons).
/// Validity bitmaps are Arrow's (LSB first) and not pre-shifted: pass the array offset beside them;
/// an empty bitmap means every row is valid. Float64 compares in SQL order (see <see cref="CompareOps.CompareSql"/>).
/// </summary>
public static class SelectionKernels
{
    /// <summary>Which implementation to run; <see cref="Auto"/> picks the best the CPU supports (tests force the others).</summary>
    internal enum Path
    {
        Auto,
        Avx512,
        Vector256,
        Scalar,
    }

    /// <summary>Writes the indexes of the rows with <c>values[i] op constant</c> (and valid) into <paramref name="selection"/>; returns how many.</summary>
    public static int Select(ReadOnlySpan<int> values, ReadOnlySpan<byte> validity, int validityOffset, CompareOp op, int constant, Span<int> selection) =>
        Select<int>(values, validity, validityOffset, op, constant, selection, Path.Auto);

    /// <inheritdoc cref="Select(ReadOnlySpan{int}, ReadOnlySpan{byte}, int, CompareOp, int, Span{int})"/>
    public static int Select(ReadOnlySpan<long> values, ReadOnlySpan<byte> validity, int validityOffset, CompareOp op, long constant, Span<int> selection) =>
        Select<long>(values, validity, validityOffset, op, constant, selection, Path.Auto);

    /// <inheritdoc cref="Select(ReadOnlySpan{int}, ReadOnlySpan{byte}, int, CompareOp, int, Span{int})"/>
    public static int Select(ReadOnlySpan<double> values, ReadOnlySpan<byte> validity, int validityOffset, CompareOp op, double constant, Span<int> selection) =>
        Select<double>(values, validity, validityOffset, op, constant, selection, Path.Auto);

    /// <summary>Keeps, in order and in place, the selected rows with <c>values[i] op constant</c> (and valid); returns how many remain.</summary>
    public static int Refine(ReadOnlySpan<int> values, ReadOnlySpan<byte> validity, int validityOffset, CompareOp op, int constant, Span<int> selection, int count) =>
        Refine<int>(values, validity, validityOffset, op, constant, selection, count);

    /// <inheritdoc cref="Refine(ReadOnlySpan{int}, ReadOnlySpan{byte}, int, CompareOp, int, Span{int}, int)"/>
    public static int Refine(ReadOnlySpan<long> values, ReadOnlySpan<byte> validity, int validityOffset, CompareOp op, long constant, Span<int> selection, int count) =>
        Refine<long>(values, validity, validityOffset, op, constant, selection, count);

    /// <inheritdoc cref="Refine(ReadOnlySpan{int}, ReadOnlySpan{byte}, int, CompareOp, int, Span{int}, int)"/>
    public static int Refine(ReadOnlySpan<double> values, ReadOnlySpan<byte> validity, int validityOffset, CompareOp op, double constant, Span<int> selection, int count) =>
        Refine<double>(values, validity, validityOffset, op, constant, selection, count);

    internal static int Select<T>(ReadOnlySpan<T> values, ReadOnlySpan<byte> validity, int validityOffset, CompareOp op, T constant, Span<int> selection, Path path)
        where T : unmanaged, INumber<T>
    {
        if (selection.Length < values.Length) ThrowSelectionTooSmall();
        CheckValidity(validity, validityOffset, values.Length);
        if (T.IsNaN(constant))
        {
            return op switch
            {
                CompareOp.Eq or CompareOp.Ge => Scan<T, NaNOp>(values, validity, validityOffset, constant, selection, path),
                CompareOp.Ne or CompareOp.Lt => Scan<T, NotNaNOp>(values, validity, validityOffset, constant, selection, path),
                CompareOp.Le => Scan<T, AllOp>(values, validity, validityOffset, constant, selection, path),
                _ => 0,
            };
        }
        return op switch
        {
            CompareOp.Eq => Scan<T, EqOp>(values, validity, validityOffset, constant, selection, path),
            CompareOp.Ne => Scan<T, NeOp>(values, validity, validityOffset, constant, selection, path),
            CompareOp.Lt => Scan<T, LtOp>(values, validity, validityOffset, constant, selection, path),
            CompareOp.Le => Scan<T, LeOp>(values, validity, validityOffset, constant, selection, path),
            CompareOp.Gt => Scan<T, GtOp>(values, validity, validityOffset, constant, selection, path),
            _ => Scan<T, GeOp>(values, validity, validityOffset, constant, selection, path),
        };
    }

    internal static int Refine<T>(ReadOnlySpan<T> values, ReadOnlySpan<byte> validity, int validityOffset, CompareOp op, T constant, Span<int> selection, int count)
        where T : unmanaged, INumber<T>
    {
        if ((uint)count > (uint)selection.Length) throw new ArgumentOutOfRangeException(nameof(count));
        CheckValidity(validity, validityOffset, values.Length);
        if (T.IsNaN(constant))
        {
            return op switch
            {
                CompareOp.Eq or CompareOp.Ge => Narrow<T, NaNOp>(values, validity, validityOffset, constant, selection, count),
                CompareOp.Ne or CompareOp.Lt => Narrow<T, NotNaNOp>(values, validity, validityOffset, constant, selection, count),
                CompareOp.Le => Narrow<T, AllOp>(values, validity, validityOffset, constant, selection, count),
                _ => 0,
            };
        }
        return op switch
        {
            CompareOp.Eq => Narrow<T, EqOp>(values, validity, validityOffset, constant, selection, count),
            CompareOp.Ne => Narrow<T, NeOp>(values, validity, validityOffset, constant, selection, count),
            CompareOp.Lt => Narrow<T, LtOp>(values, validity, validityOffset, constant, selection, count),
            CompareOp.Le => Narrow<T, LeOp>(values, validity, validityOffset, constant, selection, count),
            CompareOp.Gt => Narrow<T, GtOp>(values, validity, validityOffset, constant, selection, count),
            _ => Narrow<T, GeOp>(values, validity, validityOffset, constant, selection, count),
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Scan<T, TCmp>(ReadOnlySpan<T> values, ReadOnlySpan<byte> validity, int off, T c, Span<int> selection, Path path)
        where T : unmanaged, INumber<T>
        where TCmp : struct, IConstCompare
    {
        if (path == Path.Auto) path = Avx512F.IsSupported ? Path.Avx512 : Vector256.IsHardwareAccelerated ? Path.Vector256 : Path.Scalar;
        ref var v = ref MemoryMarshal.GetReference(values);
        ref var s = ref MemoryMarshal.GetReference(selection);
        var n = values.Length;
        var i = 0;
        var count = 0;
        if (path == Path.Avx512 && Avx512F.IsSupported) count = ScanAvx512<T, TCmp>(ref v, n, validity, off, c, ref s, ref i);
        else if (path == Path.Vector256 && Vector256.IsHardwareAccelerated) count = ScanVector256<T, TCmp>(ref v, n, validity, off, c, ref s, ref i);
        // Tail (and the scalar path): write every index, advance only when the row passes.
        if (validity.IsEmpty)
        {
            for (; i < n; i++)
            {
                Unsafe.Add(ref s, count) = i;
                count += TCmp.Test(Unsafe.Add(ref v, i), c) ? 1 : 0;
            }
        }
        else
        {
            for (; i < n; i++)
            {
                Unsafe.Add(ref s, count) = i;
                count += (TCmp.Test(Unsafe.Add(ref v, i), c) ? 1 : 0) & BitAt(validity, off + i);
            }
        }
        return count;
    }

    /// <summary>
    /// 16 rows per step: compare (two 8-lane compares narrowed for 64-bit values), AND the validity bits,
    /// compress the passing row indexes to the front of a register, store all 16 lanes and advance by the
    /// pass count. Safe because the write position never runs ahead of the read position. No calls inside
    /// the loops: a call would make the JIT spill the vector registers on every step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int ScanAvx512<T, TCmp>(ref T v, int n, ReadOnlySpan<byte> validity, int off, T c, ref int s, ref int i)
        where T : unmanaged, INumber<T>
        where TCmp : struct, IConstCompare
    {
        var vc = Vector512.Create(c);
        var index = Vector512.CreateSequence(i, 1);
        var step = Vector512.Create(16);
        var count = 0;
        var k = i;
        if (validity.IsEmpty)
        {
            for (; k <= n - 16; k += 16)
            {
                var m = Mask16<T, TCmp>(ref v, k, vc);
                Avx512F.Compress(Vector512<int>.Zero, m, index).StoreUnsafe(ref s, (nuint)count);
                count += BitOperations.PopCount(m.ExtractMostSignificantBits());
                index += step;
            }
        }
        else
        {
            // 16 validity bits from a 4-byte read at any bit offset; the last rows (where fewer than 4 bitmap
            // bytes remain) are left to the scalar tail.
            var bit = Vector512.Create(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
            ref var bits = ref MemoryMarshal.GetReference(validity);
            var bytes = validity.Length;
            for (; k <= n - 16 && ((off + k) >> 3) + 4 <= bytes; k += 16)
            {
                var pos = off + k;
                var word = (int)(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref bits, pos >> 3)) >> (pos & 7)) & 0xFFFF;
                var m = Mask16<T, TCmp>(ref v, k, vc) & Vector512.Equals(Vector512.Create(word) & bit, bit);
                Avx512F.Compress(Vector512<int>.Zero, m, index).StoreUnsafe(ref s, (nuint)count);
                count += BitOperations.PopCount(m.ExtractMostSignificantBits());
                index += step;
            }
        }
        i = k;
        return count;
    }

    /// <summary>The comparison of rows k … k+15 as a 16-lane int mask (64-bit values: two compares narrowed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Mask16<T, TCmp>(ref T v, int k, Vector512<T> vc)
        where T : unmanaged, INumber<T>
        where TCmp : struct, IConstCompare
    {
        if (Unsafe.SizeOf<T>() == 4) return TCmp.Test(Vector512.LoadUnsafe(ref v, (nuint)k), vc).AsInt32();
        return Vector512.Narrow(
            TCmp.Test(Vector512.LoadUnsafe(ref v, (nuint)k), vc).AsInt64(),
            TCmp.Test(Vector512.LoadUnsafe(ref v, (nuint)(k + 8)), vc).AsInt64());
    }

    /// <summary>64 rows per step: a 64-bit pass mask from Vector256 compares (AND validity), then expanded
    /// 8 rows at a time through a table of lane positions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int ScanVector256<T, TCmp>(ref T v, int n, ReadOnlySpan<byte> validity, int off, T c, ref int s, ref int i)
        where T : unmanaged, INumber<T>
        where TCmp : struct, IConstCompare
    {
        var vc = Vector256.Create(c);
        var lanes = Vector256<T>.Count;
        var hasNulls = !validity.IsEmpty;
        ref var lut = ref MemoryMarshal.GetArrayDataReference(Positions);
        var count = 0;
        var k = i;
        for (; k <= n - 64; k += 64)
        {
            ulong m = 0;
            for (var j = 0; j < 64; j += lanes)
                m |= (ulong)TCmp.Test(Vector256.LoadUnsafe(ref v, (nuint)(k + j)), vc).ExtractMostSignificantBits() << j;
            if (hasNulls)
            {
                // 9 bitmap bytes cover 64 bits at any offset; near the end of the bitmap the scalar tail takes over.
                var pos = off + k;
                if ((pos >> 3) + 9 > validity.Length) break;
                var lo = Unsafe.ReadUnaligned<ulong>(ref Unsafe.AsRef(in validity[pos >> 3]));
                var hi = (ulong)validity[(pos >> 3) + 8];
                var shift = pos & 7;
                m &= shift == 0 ? lo : (lo >> shift) | (hi << (64 - shift));
            }
            if (m == 0) continue;
            for (var b = 0; b < 64; b += 8)
            {
                var byteMask = (int)(m >> b) & 0xFF;
                (Vector256.LoadUnsafe(ref lut, (nuint)(byteMask * 8)) + Vector256.Create(k + b)).StoreUnsafe(ref s, (nuint)count);
                count += BitOperations.PopCount((uint)byteMask);
            }
        }
        i = k;
        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Narrow<T, TCmp>(ReadOnlySpan<T> values, ReadOnlySpan<byte> validity, int off, T c, Span<int> selection, int count)
        where T : unmanaged, INumber<T>
        where TCmp : struct, IConstCompare
    {
        ref var v = ref MemoryMarshal.GetReference(values);
        ref var s = ref MemoryMarshal.GetReference(selection);
        var max = (uint)values.Length;
        var kept = 0;
        if (validity.IsEmpty)
        {
            for (var k = 0; k < count; k++)
            {
                var i = Unsafe.Add(ref s, k);
                if ((uint)i >= max) ThrowIndexOutOfRange();
                Unsafe.Add(ref s, kept) = i;
                kept += TCmp.Test(Unsafe.Add(ref v, i), c) ? 1 : 0;
            }
        }
        else
        {
            for (var k = 0; k < count; k++)
            {
                var i = Unsafe.Add(ref s, k);
                if ((uint)i >= max) ThrowIndexOutOfRange();
                Unsafe.Add(ref s, kept) = i;
                kept += (TCmp.Test(Unsafe.Add(ref v, i), c) ? 1 : 0) & BitAt(validity, off + i);
            }
        }
        return kept;
    }

    /// <summary>
    /// Bit i of <paramref name="bits"/> (LSB first, the whole bytes of <c>values.Length</c> bits are written) =
    /// <c>values[i] op constant</c>, ignoring validity (the boolean column of a comparison; its validity is the input's).
    /// </summary>
    internal static void CompareBits<T>(ReadOnlySpan<T> values, CompareOp op, T constant, Span<byte> bits)
        where T : unmanaged, INumber<T>
    {
        if (bits.Length < (values.Length + 7) / 8) throw new ArgumentException("the bitmap is too short", nameof(bits));
        if (T.IsNaN(constant))
        {
            switch (op)
            {
                case CompareOp.Eq or CompareOp.Ge: Bitmap<T, NaNOp>(values, constant, bits); break;
                case CompareOp.Ne or CompareOp.Lt: Bitmap<T, NotNaNOp>(values, constant, bits); break;
                case CompareOp.Le: Bitmap<T, AllOp>(values, constant, bits); break;
                default: Bitmap<T, NoneOp>(values, constant, bits); break;
            }
            return;
        }
        switch (op)
        {
            case CompareOp.Eq: Bitmap<T, EqOp>(values, constant, bits); break;
            case CompareOp.Ne: Bitmap<T, NeOp>(values, constant, bits); break;
            case CompareOp.Lt: Bitmap<T, LtOp>(values, constant, bits); break;
            case CompareOp.Le: Bitmap<T, LeOp>(values, constant, bits); break;
            case CompareOp.Gt: Bitmap<T, GtOp>(values, constant, bits); break;
            default: Bitmap<T, GeOp>(values, constant, bits); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Bitmap<T, TCmp>(ReadOnlySpan<T> values, T c, Span<byte> bits)
        where T : unmanaged, INumber<T>
        where TCmp : struct, IConstCompare
    {
        ref var v = ref MemoryMarshal.GetReference(values);
        var n = values.Length;
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vc = Vector256.Create(c);
            var lanes = Vector256<T>.Count;
            for (; i <= n - 64; i += 64)
            {
                ulong m = 0;
                for (var j = 0; j < 64; j += lanes)
                    m |= (ulong)TCmp.Test(Vector256.LoadUnsafe(ref v, (nuint)(i + j)), vc).ExtractMostSignificantBits() << j;
                Unsafe.WriteUnaligned(ref bits[i >> 3], m);
            }
        }
        for (; i < n; i++)
        {
            if ((i & 7) == 0) bits[i >> 3] = 0;
            bits[i >> 3] |= (byte)((TCmp.Test(Unsafe.Add(ref v, i), c) ? 1 : 0) << (i & 7));
        }
    }

    /// <summary>Lane positions of the set bits of every byte value, 8 ints per entry (unused lanes 0).</summary>
    private static readonly int[] Positions = BuildPositions();

    private static int[] BuildPositions()
    {
        var t = new int[256 * 8];
        for (var m = 0; m < 256; m++)
        {
            var p = 0;
            for (var b = 0; b < 8; b++)
                if ((m & (1 << b)) != 0) t[m * 8 + p++] = b;
        }
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int BitAt(ReadOnlySpan<byte> bits, int i) => (bits[i >> 3] >> (i & 7)) & 1;

    /// <summary>Bits <paramref name="pos"/> … <paramref name="pos"/>+63 of a bitmap (bit 0 of the result = bit
    /// <paramref name="pos"/>); bits past the end of the bitmap read as 0.</summary>
    internal static ulong LoadBits64(ReadOnlySpan<byte> bits, int pos)
    {
        var at = pos >> 3;
        var shift = pos & 7;
        if (at + 8 <= bits.Length)
        {
            var lo = Unsafe.ReadUnaligned<ulong>(ref Unsafe.AsRef(in bits[at]));
            if (shift == 0) return lo;
            ulong hi = at + 8 < bits.Length ? bits[at + 8] : 0UL;
            return (lo >> shift) | (hi << (64 - shift));
        }
        ulong r = 0;
        for (var k = 0; k < 64; k++)
        {
            var p = pos + k;
            if ((p >> 3) >= bits.Length) break;
            r |= (ulong)((bits[p >> 3] >> (p & 7)) & 1) << k;
        }
        return r;
    }

    private static void CheckValidity(ReadOnlySpan<byte> validity, int offset, int length)
    {
        if (validity.IsEmpty) return;
        if (offset < 0 || validity.Length * 8L < (long)offset + length)
            throw new ArgumentException("the validity bitmap is shorter than offset + length bits", nameof(validity));
    }

    private static void ThrowSelectionTooSmall() =>
        throw new ArgumentException("the selection must hold at least as many entries as the input has rows");

    private static void ThrowIndexOutOfRange() =>
        throw new IndexOutOfRangeException("selection index outside the column");
}

/// <summary>
/// A <c>column op constant</c> predicate on an int32 / int64 / float64 / timestamp / date column, evaluated
/// straight into a selection vector (no boolean column in between).
/// </summary>
public sealed class ConstantFilter
{
    private readonly long _long;
    private readonly double _double;

    public ConstantFilter(int column, ColumnKind kind, CompareOp op, object constant)
    {
        ArgumentNullException.ThrowIfNull(constant);
        Column = column;
        Kind = kind;
        Op = op;
        switch (kind)
        {
            case ColumnKind.Int32 or ColumnKind.Date:
                _long = Convert.ToInt32(constant, System.Globalization.CultureInfo.InvariantCulture);
                break;
            case ColumnKind.Int64 or ColumnKind.Timestamp:
                _long = Convert.ToInt64(constant, System.Globalization.CultureInfo.InvariantCulture);
                break;
            case ColumnKind.Float64:
                _double = Convert.ToDouble(constant, System.Globalization.CultureInfo.InvariantCulture);
                break;
            default:
                throw new ArgumentException($"no constant filter for {kind} columns", nameof(kind));
        }
    }

    public int Column { get; }
    public ColumnKind Kind { get; }
    public CompareOp Op { get; }

    /// <summary>True when <see cref="ConstantFilter"/> handles comparisons of this column kind.</summary>
    public static bool Supports(ColumnKind kind) =>
        kind is ColumnKind.Int32 or ColumnKind.Date or ColumnKind.Int64 or ColumnKind.Timestamp or ColumnKind.Float64;

    /// <summary>Indexes of the rows of <paramref name="array"/> that pass; returns how many.</summary>
    public int Select(IArrowArray array, Span<int> selection)
    {
        ArgumentNullException.ThrowIfNull(array);
        var bits = Validity(array);
        var off = array.Data.Offset;
        return Kind switch
        {
            ColumnKind.Int32 or ColumnKind.Date => SelectionKernels.Select(Gather.Values<int>(array), bits, off, Op, (int)_long, selection),
            ColumnKind.Float64 => SelectionKernels.Select(Gather.Values<double>(array), bits, off, Op, _double, selection),
            _ => SelectionKernels.Select(Gather.Values<long>(array), bits, off, Op, _long, selection),
        };
    }

    /// <summary>Keeps the selected rows of <paramref name="array"/> that pass; returns how many remain.</summary>
    public int Refine(IArrowArray array, Span<int> selection, int count)
    {
        ArgumentNullException.ThrowIfNull(array);
        var bits = Validity(array);
        var off = array.Data.Offset;
        return Kind switch
        {
            ColumnKind.Int32 or ColumnKind.Date => SelectionKernels.Refine(Gather.Values<int>(array), bits, off, Op, (int)_long, selection, count),
            ColumnKind.Float64 => SelectionKernels.Refine(Gather.Values<double>(array), bits, off, Op, _double, selection, count),
            _ => SelectionKernels.Refine(Gather.Values<long>(array), bits, off, Op, _long, selection, count),
        };
    }

    private static ReadOnlySpan<byte> Validity(IArrowArray array) =>
        array.NullCount == 0 ? default : array.Data.Buffers[0].Span;
}
