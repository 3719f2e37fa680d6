using System.Runtime.CompilerServices;
using System.Text;

namespace AiEtl.Engine.ClickHouse;

/// <summary>
/// The writer's one growable byte buffer holding the encoded rows of the current insert. It grows by doubling
/// up to what the batch limit needs and is kept for the writer's lifetime (no per-batch allocation).
/// </summary>
internal sealed class EncodeBuffer
{
    private readonly long _softLimit;
    private byte[] _buf;
    private int _len;

    /// <param name="initialCapacity">Bytes allocated up front.</param>
    /// <param name="softLimit">Doubling stops here (the buffer still grows to whatever one write needs).</param>
    public EncodeBuffer(int initialCapacity = 1 << 16, long softLimit = int.MaxValue)
    {
        _buf = GC.AllocateUninitializedArray<byte>(initialCapacity);
        _softLimit = softLimit;
    }

    public int Length => _len;
    public int Capacity => _buf.Length;
    public ReadOnlyMemory<byte> Memory => _buf.AsMemory(0, _len);
    public ReadOnlySpan<byte> Span => _buf.AsSpan(0, _len);
    public byte[] Array => _buf;

    /// <summary>A span of at least <paramref name="bytes"/> free bytes at the end; call <see cref="Advance"/> after writing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> Reserve(int bytes)
    {
        if (_buf.Length - _len < bytes) Grow(bytes);
        return _buf.AsSpan(_len);
    }

    private void Grow(int bytes)
    {
        var need = (long)_len + bytes;
        if (need > System.Array.MaxLength) throw new InvalidOperationException($"ClickHouse insert buffer would exceed {System.Array.MaxLength} bytes");
        var size = Math.Max(Math.Min((long)_buf.Length * 2, _softLimit), need);
        var next = GC.AllocateUninitializedArray<byte>((int)Math.Min(size, System.Array.MaxLength));
        _buf.AsSpan(0, _len).CopyTo(next);
        _buf = next;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Advance(int bytes) => _len += bytes;

    public void Clear() => _len = 0;

    /// <summary>Drops everything after <paramref name="length"/> (undo a partly written block).</summary>
    public void Truncate(int length) => _len = length;

    public void WriteVarUInt(ulong value)
    {
        var s = Reserve(10);
        _len += Varint.Write(s, value);
    }

    public void WriteString(string value)
    {
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        var s = Reserve(max + 10);
        var n = Encoding.UTF8.GetBytes(value, s[5..]);
        var h = Varint.Write(s, (ulong)n);
        if (h != 5) s.Slice(5, n).CopyTo(s[h..]);
        _len += h + n;
    }
}

internal static class Varint
{
    /// <summary>LEB128 as ClickHouse writes lengths and counts; returns the bytes written (at most 10).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Write(Span<byte> dst, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            dst[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        dst[i++] = (byte)value;
        return i;
    }
}
