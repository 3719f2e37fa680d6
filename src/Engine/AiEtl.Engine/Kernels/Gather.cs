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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void GatherFixed<T>(ReadOnlySpan<T> src, ReadOnlySpan<int> sel, T* dst) where T : unmanaged
    {
        ref var s0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(src);
        var i = 0;
        for (; i + 4 <= sel.Length; i += 4)
        {
            dst[i] = Unsafe.Add(ref s0, sel[i]);
            dst[i + 1] = Unsafe.Add(ref s0, sel[i + 1]);
            dst[i + 2] = Unsafe.Add(ref s0, sel[i + 2]);
            dst[i + 3] = Unsafe.Add(ref s0, sel[i + 3]);
        }
        for (; i < sel.Length; i++) dst[i] = Unsafe.Add(ref s0, sel[i]);
    }

    /// <summary>Writes the validity bits of the selected rows; returns how many are null.</summary>
    public static int GatherValidity(IArrowArray array, ReadOnlySpan<int> sel, byte* dst)
    {
        var n = sel.Length;
        new Span<byte>(dst, (n + 7) / 8).Clear();
        var bits = array.Data.Buffers[0].Span;
        var off = array.Data.Offset;
        var nulls = 0;
        if (bits.IsEmpty)
        {
            for (var i = 0; i < n; i++) dst[i >> 3] |= (byte)(1 << (i & 7));
            return 0;
        }
        for (var i = 0; i < n; i++)
        {
            var j = sel[i] + off;
            if ((bits[j >> 3] & (1 << (j & 7))) != 0) dst[i >> 3] |= (byte)(1 << (i & 7));
            else nulls++;
        }
        return nulls;
    }

    /// <summary>True when row <paramref name="i"/> of the array is valid (not null).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsValid(ReadOnlySpan<byte> bits, int offset, int i)
    {
        if (bits.IsEmpty) return true;
        var j = i + offset;
        return (bits[j >> 3] & (1 << (j & 7))) != 0;
    }
}
