using System.Runtime.CompilerServices;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Memory;
using Apache.Arrow;

namespace AiEtl.Engine.Kernels;

/// <summary>Gathers rows of Arrow arrays by a selection vector into pooled buffers.</summary>
public static unsafe class Gather
{
    /// <summary>Takes the rows <paramref name="sel"/> of every column of <paramref name="batch"/>.</summary>
    public static Batch Take(Batch batch, ReadOnlySpan<int> sel, BufferPool? pool = null)
    {
        var asm = new BatchAssembler(pool);
        var cols = new IArrowArray[batch.Data.ColumnCount];
        for (var c = 0; c < cols.Length; c++) cols[c] = Column(batch.Column(c), sel, asm);
        return asm.Build(batch.Schema, cols, sel.Length);
    }

    public static IArrowArray Column(IArrowArray array, ReadOnlySpan<int> sel, BatchAssembler asm)
    {
        var kind = ColumnTypes.FromArrow(array.Data.DataType);
        var n = sel.Length;
        NativeBuffer? validity = null;
        var nulls = 0;
        if (array.NullCount > 0)
        {
            validity = asm.Rent((n + 7) / 8 + 8);
            nulls = GatherValidity(array, sel, validity.Pointer);
        }
        switch (kind)
        {
            case ColumnKind.Int64 or ColumnKind.Float64 or ColumnKind.Timestamp:
            {
                var src = Values<long>(array);
                var dst = asm.Rent(Math.Max(n * 8, 8));
                GatherFixed(src, sel, (long*)dst.Pointer);
                return asm.Fixed(kind, n, dst, validity, nulls);
            }
            case ColumnKind.Int32 or ColumnKind.Date:
            {
                var src = Values<int>(array);
                var dst = asm.Rent(Math.Max(n * 4, 8));
                GatherFixed(src, sel, (int*)dst.Pointer);
                return asm.Fixed(kind, n, dst, validity, nulls);
            }
            case ColumnKind.Bool:
            {
                var a = (BooleanArray)array;
                var dst = asm.Rent((n + 7) / 8 + 8);
                new Span<byte>(dst.Pointer, (n + 7) / 8).Clear();
                for (var i = 0; i < n; i++)
                    if (a.GetValue(sel[i]) == true) dst.Pointer[i >> 3] |= (byte)(1 << (i & 7));
                return asm.Fixed(kind, n, dst, validity, nulls);
            }
            case ColumnKind.String:
            {
                var a = (StringArray)array;
                var offs = a.ValueOffsets;
                var data = a.ValueBuffer.Span;
                long total = 0;
                for (var i = 0; i < n; i++) total += offs[sel[i] + 1] - offs[sel[i]];
                var offsets = asm.Rent((n + 1) * 4);
                var bytes = asm.Rent((int)Math.Max(total, 8));
                var o = (int*)offsets.Pointer;
                var pos = 0;
                o[0] = 0;
                for (var i = 0; i < n; i++)
                {
                    var s = offs[sel[i]];
                    var len = offs[sel[i] + 1] - s;
                    data.Slice(s, len).CopyTo(new Span<byte>(bytes.Pointer + pos, len));
                    pos += len;
                    o[i + 1] = pos;
                }
                return asm.String(n, offsets, bytes, pos, validity, nulls);
            }
            default:
                throw new NotSupportedException(kind.ToString());
        }
    }

    /// <summary>The value span of a fixed-width array (already offset by the array's offset).</summary>
    public static ReadOnlySpan<T> Values<T>(IArrowArray array) where T : unmanaged
    {
        var d = array.Data;
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(d.Buffers[1].Span).Slice(d.Offset, d.Length);
    }

    /// <summary><c>dst[j] = src[sel[j]]</c>, 4 rows per step; every index is checked against the source.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GatherFixed<T>(ReadOnlySpan<T> src, ReadOnlySpan<int> sel, T* dst) where T : unmanaged
    {
        ref var s0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(src);
        ref var x = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(sel);
        var max = (uint)src.Length;
        var n = sel.Length;
        var i = 0;
        for (; i <= n - 4; i += 4)
        {
            var i0 = Unsafe.Add(ref x, i);
            var i1 = Unsafe.Add(ref x, i + 1);
            var i2 = Unsafe.Add(ref x, i + 2);
            var i3 = Unsafe.Add(ref x, i + 3);
            if ((uint)i0 >= max || (uint)i1 >= max || (uint)i2 >= max || (uint)i3 >= max) ThrowIndexOutOfRange();
            dst[i] = Unsafe.Add(ref s0, i0);
            dst[i + 1] = Unsafe.Add(ref s0, i1);
            dst[i + 2] = Unsafe.Add(ref s0, i2);
            dst[i + 3] = Unsafe.Add(ref s0, i3);
        }
        for (; i < n; i++)
        {
            var i0 = Unsafe.Add(ref x, i);
            if ((uint)i0 >= max) ThrowIndexOutOfRange();
            dst[i] = Unsafe.Add(ref s0, i0);
        }
    }

    /// <summary>Writes the validity bits of the selected rows; returns how many are null.</summary>
    public static int GatherValidity(IArrowArray array, ReadOnlySpan<int> sel, byte* dst)
    {
        var n = sel.Length;
        var bytes = (n + 7) / 8;
        var bits = array.Data.Buffers[0].Span;
        if (bits.IsEmpty || array.NullCount == 0)
        {
            new Span<byte>(dst, bytes).Fill(0xFF);
            return 0;
        }
        return GatherBits(bits, array.Data.Offset, default, 0, sel, dst);
    }

    /// <summary>Writes, for each selected row, whether it is valid in both arrays; returns how many are null.
    /// The result is all-valid (and 0 is returned) when neither array has nulls.</summary>
    public static int GatherValidityAnd(IArrowArray a, IArrowArray b, ReadOnlySpan<int> sel, byte* dst)
    {
        var abits = a.NullCount == 0 ? default : a.Data.Buffers[0].Span;
        var bbits = b.NullCount == 0 ? default : b.Data.Buffers[0].Span;
        if (abits.IsEmpty && bbits.IsEmpty)
        {
            new Span<byte>(dst, (sel.Length + 7) / 8).Fill(0xFF);
            return 0;
        }
        if (abits.IsEmpty) return GatherBits(bbits, b.Data.Offset, default, 0, sel, dst);
        return GatherBits(abits, a.Data.Offset, bbits, b.Data.Offset, sel, dst);
    }

    /// <summary>dst bit j = bit (sel[j] + offA) of <paramref name="a"/> AND (when given) bit (sel[j] + offB) of <paramref name="b"/>; 64 rows per word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int GatherBits(ReadOnlySpan<byte> a, int offA, ReadOnlySpan<byte> b, int offB, ReadOnlySpan<int> sel, byte* dst)
    {
        var n = sel.Length;
        var valid = 0;
        var both = !b.IsEmpty;
        var j = 0;
        for (; j <= n - 64; j += 64)
        {
            ulong word = 0;
            for (var k = 0; k < 64; k++)
            {
                var i = sel[j + k];
                var bit = Bit(a, i + offA);
                if (both) bit &= Bit(b, i + offB);
                word |= bit << k;
            }
            Unsafe.WriteUnaligned(dst + (j >> 3), word);
            valid += System.Numerics.BitOperations.PopCount(word);
        }
        if (j < n)
        {
            new Span<byte>(dst + (j >> 3), (n - j + 7) / 8).Clear();
            for (; j < n; j++)
            {
                var i = sel[j];
                var bit = Bit(a, i + offA);
                if (both) bit &= Bit(b, i + offB);
                dst[j >> 3] |= (byte)(bit << (j & 7));
                valid += (int)bit;
            }
        }
        return n - valid;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Bit(ReadOnlySpan<byte> bits, int i) => (ulong)((bits[i >> 3] >> (i & 7)) & 1);

    private static void ThrowIndexOutOfRange() =>
        throw new IndexOutOfRangeException("selection index outside the source column");

    /// <summary>True when row <paramref name="i"/> of the array is valid (not null).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsValid(ReadOnlySpan<byte> bits, int offset, int i)
    {
        if (bits.IsEmpty) return true;
        var j = i + offset;
        return (bits[j >> 3] & (1 << (j & 7))) != 0;
    }
}
