using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Apache.Arrow;

namespace AiEtl.Engine.Expressions;

/// <summary>Bitmap helpers (Arrow validity and boolean values are LSB-first bitmaps).</summary>
internal static unsafe class Bits
{
    public static int Bytes(int n) => (n + 7) / 8;

    /// <summary>The validity bitmap aligned to bit 0, or empty when every row is valid.</summary>
    public static ReadOnlySpan<byte> Validity(IArrowArray a, Kernels.BatchAssembler asm)
    {
        if (a.NullCount == 0) return default;
        return Aligned(a.Data.Buffers[0].Span, a.Data.Offset, a.Length, asm);
    }

    /// <summary>Boolean values aligned to bit 0.</summary>
    public static ReadOnlySpan<byte> BoolValues(IArrowArray a, Kernels.BatchAssembler asm) =>
        Aligned(a.Data.Buffers[1].Span, a.Data.Offset, a.Length, asm);

    private static ReadOnlySpan<byte> Aligned(ReadOnlySpan<byte> bits, int offset, int n, Kernels.BatchAssembler asm)
    {
        if (offset == 0) return bits[..Bytes(n)];
        var buf = asm.Rent(Bytes(n) + 8);
        var dst = new Span<byte>(buf.Pointer, Bytes(n));
        dst.Clear();
        for (var i = 0; i < n; i++)
        {
            var j = i + offset;
            if ((bits[j >> 3] & (1 << (j & 7))) != 0) dst[i >> 3] |= (byte)(1 << (i & 7));
        }
        return dst;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Get(ReadOnlySpan<byte> bits, int i) => bits.IsEmpty || (bits[i >> 3] & (1 << (i & 7))) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Set(byte* bits, int i) => bits[i >> 3] |= (byte)(1 << (i & 7));

    /// <summary>AND of two validity bitmaps (empty = all valid) into a new bitmap; returns the null count.</summary>
    public static (Memory.NativeBuffer? buf, int nulls) And(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, int n, Kernels.BatchAssembler asm)
    {
        if (a.IsEmpty && b.IsEmpty) return (null, 0);
        var buf = asm.Rent(Bytes(n) + 8);
        var dst = new Span<byte>(buf.Pointer, Bytes(n));
        if (a.IsEmpty) b[..dst.Length].CopyTo(dst);
        else if (b.IsEmpty) a[..dst.Length].CopyTo(dst);
        else for (var i = 0; i < dst.Length; i++) dst[i] = (byte)(a[i] & b[i]);
        return (buf, n - PopCount(dst, n));
    }

    public static int PopCount(ReadOnlySpan<byte> bits, int n)
    {
        var count = 0;
        var full = n >> 3;
        var words = MemoryMarshal.Cast<byte, ulong>(bits[..(full & ~7)]);
        foreach (var w in words) count += BitOperations.PopCount(w);
        for (var i = full & ~7; i < full; i++) count += BitOperations.PopCount(bits[i]);
        for (var i = full << 3; i < n; i++) if ((bits[i >> 3] & (1 << (i & 7))) != 0) count++;
        return count;
    }

    /// <summary>Writes the indexes of rows whose value bit and validity bit are both set; returns the count.</summary>
    public static int ToSelection(ReadOnlySpan<byte> values, ReadOnlySpan<byte> validity, int n, Span<int> sel)
    {
        var count = 0;
        var words = n >> 6;
        var v64 = MemoryMarshal.Cast<byte, ulong>(values[..(words * 8)]);
        var m64 = validity.IsEmpty ? default : MemoryMarshal.Cast<byte, ulong>(validity[..(words * 8)]);
        for (var w = 0; w < words; w++)
        {
            var bits = v64[w];
            if (!validity.IsEmpty) bits &= m64[w];
            var baseIdx = w << 6;
            while (bits != 0)
            {
                sel[count++] = baseIdx + BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
            }
        }
        for (var i = words << 6; i < n; i++)
            if ((values[i >> 3] & (1 << (i & 7))) != 0 && Get(validity, i)) sel[count++] = i;
        return count;
    }
}
