using System.Runtime.CompilerServices;
using AiEtl.Engine.Memory;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace AiEtl.Engine.Columns;

/// <summary>
/// Appends values of one column straight into pooled native buffers (values, validity, and for strings
/// offsets + bytes). One class for every kind so callers dispatch on <see cref="Kind"/> without virtual
/// calls; <see cref="Truncate"/> undoes a partly written row.
/// </summary>
public sealed unsafe class ColumnBuilder
{
    private readonly BufferPool _pool;
    private NativeBuffer _values;      // fixed-width values, bit-packed bools, or int32 offsets for strings
    private NativeBuffer? _data;       // string bytes
    private NativeBuffer? _validity;   // allocated at the first null
    private int _length;
    private int _rowCapacity;          // rows that fit in _values; recomputed only when _values changes
    private int _nullCount;
    private int _dataLength;

    public ColumnBuilder(ColumnKind kind, int capacity = 8192, BufferPool? pool = null)
    {
        Kind = kind;
        _pool = pool ?? BufferPool.Shared;
        _values = _pool.Rent(ValueBytes(kind, Math.Max(capacity, 64)));
        if (kind == ColumnKind.String)
        {
            _data = _pool.Rent(Math.Max(capacity * 16, 1024));
            ((int*)_values.Pointer)[0] = 0;
        }
        _rowCapacity = RowCapacityOf(_values.Capacity);
    }

    public ColumnKind Kind { get; }
    public int Length => _length;
    public int NullCount => _nullCount;
    public IArrowType ArrowType => ColumnTypes.ToArrow(Kind);

    private static int ValueBytes(ColumnKind kind, int rows) => kind switch
    {
        ColumnKind.Bool => (rows + 7) / 8,
        ColumnKind.String => (rows + 1) * 4,
        _ => rows * ColumnTypes.FixedWidth(kind),
    };

    private int RowCapacity => _rowCapacity;

    private int RowCapacityOf(int valueBytes) => Kind switch
    {
        ColumnKind.Bool => valueBytes * 8,
        ColumnKind.String => valueBytes / 4 - 1,
        _ => valueBytes / ColumnTypes.FixedWidth(Kind),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnsureRow()
    {
        if (_length >= _rowCapacity) GrowValues();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void GrowValues()
    {
        var bigger = _pool.Rent(_values.Capacity * 2);
        Buffer.MemoryCopy(_values.Pointer, bigger.Pointer, bigger.Capacity, _values.Capacity);
        _pool.Return(_values);
        _values = bigger;
        _rowCapacity = RowCapacityOf(_values.Capacity);
        if (_validity != null && _validity.Capacity * 8 < RowCapacity)
        {
            var v = _pool.Rent((RowCapacity + 7) / 8);
            Buffer.MemoryCopy(_validity.Pointer, v.Pointer, v.Capacity, _validity.Capacity);
            _pool.Return(_validity);
            _validity = v;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MarkValid()
    {
        if (_validity != null) _validity.Pointer[_length >> 3] |= (byte)(1 << (_length & 7));
    }

    public void AppendNull()
    {
        EnsureRow();
        if (_validity == null)
        {
            _validity = _pool.Rent((RowCapacity + 7) / 8);
            new Span<byte>(_validity.Pointer, _validity.Capacity).Clear();
            for (var i = 0; i < _length; i++) _validity.Pointer[i >> 3] |= (byte)(1 << (i & 7));
        }
        _validity.Pointer[_length >> 3] &= (byte)~(1 << (_length & 7));
        switch (Kind)
        {
            case ColumnKind.Bool:
                _values.Pointer[_length >> 3] &= (byte)~(1 << (_length & 7));
                break;
            case ColumnKind.String:
                ((int*)_values.Pointer)[_length + 1] = _dataLength;
                break;
            default:
                new Span<byte>(_values.Pointer + (long)_length * ColumnTypes.FixedWidth(Kind), ColumnTypes.FixedWidth(Kind)).Clear();
                break;
        }
        _length++;
        _nullCount++;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AppendInt64(long v)
    {
        EnsureRow();
        MarkValid();
        ((long*)_values.Pointer)[_length++] = v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AppendInt32(int v)
    {
        EnsureRow();
        MarkValid();
        ((int*)_values.Pointer)[_length++] = v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AppendDouble(double v)
    {
        EnsureRow();
        MarkValid();
        ((double*)_values.Pointer)[_length++] = v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AppendBool(bool v)
    {
        EnsureRow();
        MarkValid();
        if (v) _values.Pointer[_length >> 3] |= (byte)(1 << (_length & 7));
        else _values.Pointer[_length >> 3] &= (byte)~(1 << (_length & 7));
        _length++;
    }

    /// <summary>Appends UTF-8 bytes (the caller guarantees they are valid UTF-8).</summary>
    public void AppendUtf8(ReadOnlySpan<byte> utf8)
    {
        EnsureRow();
        MarkValid();
        EnsureData(utf8.Length);
        utf8.CopyTo(new Span<byte>(_data!.Pointer + _dataLength, utf8.Length));
        _dataLength += utf8.Length;
        ((int*)_values.Pointer)[++_length] = _dataLength;
    }

    public void AppendString(string s)
    {
        var max = System.Text.Encoding.UTF8.GetMaxByteCount(s.Length);
        EnsureRow();
        MarkValid();
        EnsureData(max);
        var n = System.Text.Encoding.UTF8.GetBytes(s, new Span<byte>(_data!.Pointer + _dataLength, max));
        _dataLength += n;
        ((int*)_values.Pointer)[++_length] = _dataLength;
    }

    /// <summary>Reserves room for <paramref name="bytes"/> more string bytes and returns where to write them.</summary>
    public Span<byte> ReserveUtf8(int bytes)
    {
        EnsureData(bytes);
        return new Span<byte>(_data!.Pointer + _dataLength, bytes);
    }

    /// <summary>Commits a string of <paramref name="bytes"/> bytes written into <see cref="ReserveUtf8"/>.</summary>
    public void CommitUtf8(int bytes)
    {
        EnsureRow();
        MarkValid();
        _dataLength += bytes;
        ((int*)_values.Pointer)[++_length] = _dataLength;
    }

    private void EnsureData(int more)
    {
        if ((long)_dataLength + more <= _data!.Capacity) return;
        var need = (long)_dataLength + more;
        var cap = (long)_data.Capacity;
        while (cap < need) cap *= 2;
        if (cap > int.MaxValue) throw new InvalidOperationException("string column exceeds 2 GiB in one batch");
        var bigger = _pool.Rent((int)cap);
        Buffer.MemoryCopy(_data.Pointer, bigger.Pointer, bigger.Capacity, _dataLength);
        _pool.Return(_data);
        _data = bigger;
    }

    /// <summary>Drops rows from <paramref name="length"/> on (undoes a partly decoded row).</summary>
    public void Truncate(int length)
    {
        if (length >= _length) return;
        if (_validity != null)
        {
            var nulls = 0;
            for (var i = length; i < _length; i++)
                if ((_validity.Pointer[i >> 3] & (1 << (i & 7))) == 0) nulls++;
            _nullCount -= nulls;
        }
        _length = length;
        if (Kind == ColumnKind.String) _dataLength = ((int*)_values.Pointer)[length];
    }

    /// <summary>Bytes written so far (values + strings + validity).</summary>
    public long ByteSize => Kind switch
    {
        ColumnKind.String => (_length + 1) * 4L + _dataLength,
        ColumnKind.Bool => (_length + 7) / 8,
        _ => (long)_length * ColumnTypes.FixedWidth(Kind),
    } + (_validity != null ? (_length + 7) / 8 : 0);

    /// <summary>
    /// Finishes the column: returns the Arrow array and hands its buffers to <paramref name="owned"/>.
    /// The builder starts over with fresh buffers of the same capacity.
    /// </summary>
    public IArrowArray Build(List<NativeBuffer> owned)
    {
        var n = _length;
        var array = Kind == ColumnKind.String
            ? ArrowReuse.String(n, _values, _data!, _dataLength, _validity, _nullCount)
            : ArrowReuse.Fixed(Kind, n, _values, Kind == ColumnKind.Bool ? (n + 7) / 8 : n * ColumnTypes.FixedWidth(Kind), _validity, _nullCount);
        var rowCap = RowCapacity;
        owned.Add(_values);
        if (_data != null) owned.Add(_data);
        if (_validity != null) owned.Add(_validity);
        _values = _pool.Rent(ValueBytes(Kind, Math.Max(rowCap, 64)));
        _rowCapacity = RowCapacityOf(_values.Capacity);
        if (Kind == ColumnKind.String)
        {
            _data = _pool.Rent(Math.Max(_data!.Capacity, 1024));
            ((int*)_values.Pointer)[0] = 0;
        }
        _validity = null;
        _length = 0;
        _nullCount = 0;
        _dataLength = 0;
        return array;
    }

    /// <summary>Returns the builder's buffers to the pool.</summary>
    public void Release()
    {
        _pool.Return(_values);
        if (_data != null) _pool.Return(_data);
        if (_validity != null) _pool.Return(_validity);
        _data = null;
        _validity = null;
    }
}
