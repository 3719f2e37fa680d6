using System.Buffers;
using System.Runtime.CompilerServices;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Connectors;

/// <summary>
/// Reads one Arrow column of an engine kind through raw pointers (values, offsets, string bytes, validity),
/// honouring the array offset. <see cref="Attach"/> pins the buffers until <see cref="Release"/>; one cursor
/// is reused for every batch so reading allocates nothing.
/// </summary>
internal sealed unsafe class ArrowColumnCursor
{
    private MemoryHandle _h0, _h1, _h2;
    private byte* _validity;
    private byte* _values;
    private byte* _data;
    private int _offset;

    public ArrowColumnCursor(ColumnKind kind) => Kind = kind;

    public ColumnKind Kind { get; }
    public int Length { get; private set; }
    public bool HasNulls => _validity != null;

    public void Attach(IArrowArray array)
    {
        Release();
        var d = array.Data;
        _offset = d.Offset;
        Length = d.Length;
        if (d.NullCount != 0 && d.Buffers[0].Length > 0)
        {
            _h0 = d.Buffers[0].Memory.Pin();
            _validity = (byte*)_h0.Pointer;
        }
        _h1 = d.Buffers[1].Memory.Pin();
        _values = (byte*)_h1.Pointer;
        if (Kind == ColumnKind.String)
        {
            _h2 = d.Buffers[2].Memory.Pin();
            _data = (byte*)_h2.Pointer;
        }
    }

    public void Release()
    {
        _h0.Dispose();
        _h1.Dispose();
        _h2.Dispose();
        _h0 = _h1 = _h2 = default;
        _validity = _values = _data = null;
        Length = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsNull(int row)
    {
        if (_validity == null) return false;
        var i = row + _offset;
        return (_validity[i >> 3] & (1 << (i & 7))) == 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long Int64(int row) => ((long*)_values)[row + _offset];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Int32(int row) => ((int*)_values)[row + _offset];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double Double(int row) => ((double*)_values)[row + _offset];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Bool(int row)
    {
        var i = row + _offset;
        return (_values[i >> 3] & (1 << (i & 7))) != 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> Utf8(int row)
    {
        var o = (int*)_values + row + _offset;
        return new ReadOnlySpan<byte>(_data + o[0], o[1] - o[0]);
    }

    /// <summary>Cursors for every column of <paramref name="schema"/> (the caller has validated the types).</summary>
    public static ArrowColumnCursor[] ForSchema(Schema schema)
    {
        var cursors = new ArrowColumnCursor[schema.FieldsList.Count];
        for (var i = 0; i < cursors.Length; i++) cursors[i] = new ArrowColumnCursor(ColumnTypes.FromArrow(schema.FieldsList[i].DataType));
        return cursors;
    }

    /// <summary>Problems for input columns whose type the engine cannot write (empty when all are fine).</summary>
    public static IReadOnlyList<string> ValidateSchema(Schema input)
    {
        List<string>? problems = null;
        foreach (var f in input.FieldsList)
        {
            if (!ColumnTypes.TryFromArrow(f.DataType, out _))
                (problems ??= []).Add($"column {f.Name}: type {f.DataType.Name} is not supported");
        }
        return problems ?? (IReadOnlyList<string>)[];
    }
}

/// <summary>A growable byte buffer rented from <see cref="ArrayPool{T}"/>; reused across batches.</summary>
internal sealed class ByteBuffer : IDisposable
{
    private byte[] _buf;
    private int _len;

    public ByteBuffer(int initialCapacity = 64 * 1024) => _buf = ArrayPool<byte>.Shared.Rent(initialCapacity);

    public int Length => _len;
    public ReadOnlyMemory<byte> Memory => _buf.AsMemory(0, _len);
    public ReadOnlySpan<byte> Span => _buf.AsSpan(0, _len);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> GetSpan(int sizeHint)
    {
        if (_buf.Length - _len < sizeHint) Grow(sizeHint);
        return _buf.AsSpan(_len);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Advance(int count) => _len += count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(ReadOnlySpan<byte> bytes)
    {
        if (_buf.Length - _len < bytes.Length) Grow(bytes.Length);
        bytes.CopyTo(_buf.AsSpan(_len));
        _len += bytes.Length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteByte(byte b)
    {
        if (_len == _buf.Length) Grow(1);
        _buf[_len++] = b;
    }

    public void Clear() => _len = 0;

    private void Grow(int more)
    {
        var need = (long)_len + more;
        var size = Math.Max(need, (long)_buf.Length * 2);
        if (size > System.Array.MaxLength) size = Math.Max(need, System.Array.MaxLength);
        var bigger = ArrayPool<byte>.Shared.Rent((int)size);
        _buf.AsSpan(0, _len).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buf);
        _buf = bigger;
    }

    public void Dispose()
    {
        if (_buf.Length == 0) return;
        ArrayPool<byte>.Shared.Return(_buf);
        _buf = [];
        _len = 0;
    }
}
