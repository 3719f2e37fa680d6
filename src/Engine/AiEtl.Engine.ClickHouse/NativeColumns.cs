using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace AiEtl.Engine.ClickHouse;

/// <summary>Rows of a batch that cannot be written (they go to the dead-letter output), with the first reason per row.</summary>
internal sealed class RowRejects
{
    private readonly Dictionary<int, string> _reasons = [];

    public int Count => _reasons.Count;
    public bool IsEmpty => _reasons.Count == 0;

    public void Add(int row, string column, string reason) => _reasons.TryAdd(row, $"column '{column}': {reason}");

    public bool Contains(int row) => _reasons.ContainsKey(row);

    public IEnumerable<KeyValuePair<int, string>> Sorted => _reasons.OrderBy(r => r.Key);

    public void Clear() => _reasons.Clear();
}

/// <summary>
/// Encodes one Arrow column (a contiguous row range of it) in ClickHouse's Native column layout for one target
/// type. Writers are chosen once per table column (<see cref="ColumnWriters.Create"/>); they work a column at a
/// time over Arrow buffers: fixed-width same-type columns are a single copy.
/// </summary>
internal abstract class ColumnWriter
{
    /// <summary>True when some values cannot be represented in the target (range, NULL into non-Nullable, …).</summary>
    public virtual bool MayReject => false;

    /// <summary>Marks the rows of [start, start+count) that cannot be written. Null rows are skipped unless the writer rejects NULL.</summary>
    public virtual void Check(IArrowArray a, int start, int count, string column, RowRejects rejects)
    {
    }

    /// <summary>An upper bound of the bytes <see cref="Write"/> produces for the range.</summary>
    public abstract long MaxBytes(IArrowArray a, int start, int count);

    public abstract void Write(IArrowArray a, int start, int count, EncodeBuffer o);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static bool IsNull(IArrowArray a, int i)
    {
        if (a.NullCount == 0) return false;
        var bits = a.Data.Buffers[0].Span;
        if (bits.IsEmpty) return false;
        var j = i + a.Data.Offset;
        return (bits[j >> 3] & (1 << (j & 7))) == 0;
    }

    protected static ReadOnlySpan<T> Values<T>(IArrowArray a) where T : unmanaged =>
        MemoryMarshal.Cast<byte, T>(a.Data.Buffers[1].Span).Slice(a.Data.Offset, a.Data.Length);
}

/// <summary>Same type on both sides: one copy of the value bytes.</summary>
internal sealed class CopyWriter<T> : ColumnWriter where T : unmanaged
{
    public override long MaxBytes(IArrowArray a, int start, int count) => (long)count * Unsafe.SizeOf<T>();

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var src = MemoryMarshal.AsBytes(Values<T>(a).Slice(start, count));
        src.CopyTo(o.Reserve(src.Length));
        o.Advance(src.Length);
    }
}

/// <summary>Integer to integer of another width or signedness, with a range check.</summary>
internal sealed class IntWriter(int srcWidth, int dstWidth, long min, ulong max) : ColumnWriter
{
    public override bool MayReject => srcWidth == 4 ? min > int.MinValue || max < int.MaxValue : min > long.MinValue || max < long.MaxValue;

    public override void Check(IArrowArray a, int start, int count, string column, RowRejects rejects)
    {
        for (var i = start; i < start + count; i++)
        {
            if (IsNull(a, i)) continue;
            var v = Get(a, i);
            if (v < min || (v >= 0 && (ulong)v > max))
                rejects.Add(i, column, $"{v.ToString(CultureInfo.InvariantCulture)} is out of the target's range [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");
        }
    }

    private long Get(IArrowArray a, int i) => srcWidth == 4 ? Values<int>(a)[i] : Values<long>(a)[i];

    public override long MaxBytes(IArrowArray a, int start, int count) => (long)count * dstWidth;

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var dst = o.Reserve(count * dstWidth);
        if (srcWidth == 4)
        {
            var src = Values<int>(a).Slice(start, count);
            switch (dstWidth)
            {
                case 8:
                    var d8 = MemoryMarshal.Cast<byte, long>(dst[..(count * 8)]);
                    for (var i = 0; i < count; i++) d8[i] = src[i];
                    break;
                case 2:
                    for (var i = 0; i < count; i++) BinaryPrimitives.WriteInt16LittleEndian(dst[(i * 2)..], (short)src[i]);
                    break;
                case 1:
                    for (var i = 0; i < count; i++) dst[i] = (byte)src[i];
                    break;
                default:
                    MemoryMarshal.AsBytes(src).CopyTo(dst);
                    break;
            }
        }
        else
        {
            var src = Values<long>(a).Slice(start, count);
            switch (dstWidth)
            {
                case 8:
                    MemoryMarshal.AsBytes(src).CopyTo(dst);
                    break;
                case 4:
                    var d4 = MemoryMarshal.Cast<byte, int>(dst[..(count * 4)]);
                    for (var i = 0; i < count; i++) d4[i] = (int)src[i];
                    break;
                case 2:
                    for (var i = 0; i < count; i++) BinaryPrimitives.WriteInt16LittleEndian(dst[(i * 2)..], (short)src[i]);
                    break;
                default:
                    for (var i = 0; i < count; i++) dst[i] = (byte)src[i];
                    break;
            }
        }
        o.Advance(count * dstWidth);
    }
}

internal sealed class Int32ToFloat64Writer : ColumnWriter
{
    public override long MaxBytes(IArrowArray a, int start, int count) => count * 8L;

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var src = Values<int>(a).Slice(start, count);
        var dst = MemoryMarshal.Cast<byte, double>(o.Reserve(count * 8)[..(count * 8)]);
        for (var i = 0; i < count; i++) dst[i] = src[i];
        o.Advance(count * 8);
    }
}

internal sealed class Float64ToFloat32Writer : ColumnWriter
{
    public override long MaxBytes(IArrowArray a, int start, int count) => count * 4L;

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var src = Values<double>(a).Slice(start, count);
        var dst = MemoryMarshal.Cast<byte, float>(o.Reserve(count * 4)[..(count * 4)]);
        for (var i = 0; i < count; i++) dst[i] = (float)src[i];
        o.Advance(count * 4);
    }
}

/// <summary>Arrow's bit-packed booleans to one byte per value (UInt8 / Bool).</summary>
internal sealed class BoolWriter : ColumnWriter
{
    public override long MaxBytes(IArrowArray a, int start, int count) => count;

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var bits = a.Data.Buffers[1].Span;
        var off = a.Data.Offset + start;
        var dst = o.Reserve(count);
        for (var i = 0; i < count; i++)
        {
            var j = off + i;
            dst[i] = (byte)((bits[j >> 3] >> (j & 7)) & 1);
        }
        o.Advance(count);
    }
}

/// <summary>UTF-8 strings: a LEB128 length then the bytes, per value.</summary>
internal sealed class StringWriter : ColumnWriter
{
    public override long MaxBytes(IArrowArray a, int start, int count)
    {
        var offsets = ((StringArray)a).ValueOffsets;
        return offsets[start + count] - offsets[start] + 5L * count;
    }

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var s = (StringArray)a;
        var offsets = s.ValueOffsets;
        var data = s.ValueBuffer.Span;
        var dst = o.Reserve((int)MaxBytes(a, start, count));
        var p = 0;
        for (var i = start; i < start + count; i++)
        {
            var b = offsets[i];
            var len = offsets[i + 1] - b;
            if (len < 0x80) dst[p++] = (byte)len;
            else p += Varint.Write(dst[p..], (ulong)len);
            data.Slice(b, len).CopyTo(dst[p..]);
            p += len;
        }
        o.Advance(p);
    }
}

/// <summary>FixedString(N): values padded with zero bytes; longer values are rejected.</summary>
internal sealed class FixedStringWriter(int n) : ColumnWriter
{
    public override bool MayReject => true;

    public override void Check(IArrowArray a, int start, int count, string column, RowRejects rejects)
    {
        var offsets = ((StringArray)a).ValueOffsets;
        for (var i = start; i < start + count; i++)
        {
            var len = offsets[i + 1] - offsets[i];
            if (len > n && !IsNull(a, i)) rejects.Add(i, column, $"{len} bytes do not fit FixedString({n})");
        }
    }

    public override long MaxBytes(IArrowArray a, int start, int count) => (long)count * n;

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var s = (StringArray)a;
        var offsets = s.ValueOffsets;
        var data = s.ValueBuffer.Span;
        var dst = o.Reserve(count * n)[..(count * n)];
        dst.Clear();
        for (var i = 0; i < count; i++)
        {
            var b = offsets[start + i];
            var len = Math.Min(n, offsets[start + i + 1] - b);
            data.Slice(b, len).CopyTo(dst[(i * n)..]);
        }
        o.Advance(count * n);
    }
}

/// <summary>
/// LowCardinality(String) / LowCardinality(Nullable(String)) in the Native layout: a version prefix, then one
/// granule with its own dictionary ("additional keys") and the index of each row. For the Nullable variant
/// index 0 is NULL.
/// </summary>
internal sealed class LowCardinalityWriter(bool nullable) : ColumnWriter
{
    private const ulong SharedDictionariesWithAdditionalKeys = 1;
    private const ulong HasAdditionalKeysBit = 1UL << 9;
    private int[] _table = new int[1024];
    private int[] _keyStart = new int[256];
    private int[] _keyLen = new int[256];
    private int[] _index = new int[1024];

    public override long MaxBytes(IArrowArray a, int start, int count)
    {
        var offsets = ((StringArray)a).ValueOffsets;
        return 64 + offsets[start + count] - offsets[start] + 9L * count + 8;
    }

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var s = (StringArray)a;
        var offsets = s.ValueOffsets;
        var data = s.ValueBuffer.Span;
        var size = 16;
        while (size < count * 2) size <<= 1;
        if (_table.Length < size) _table = new int[size];
        var table = _table.AsSpan(0, size);
        table.Clear();
        if (_index.Length < count) _index = new int[Math.Max(count, _index.Length * 2)];
        var keys = nullable ? 1 : 0;
        var mask = size - 1;
        for (var i = 0; i < count; i++)
        {
            var row = start + i;
            if (nullable && IsNull(a, row))
            {
                _index[i] = 0;
                continue;
            }
            var b = offsets[row];
            var value = data.Slice(b, offsets[row + 1] - b);
            var slot = (int)XxHash3.HashToUInt64(value) & mask;
            while (true)
            {
                var k = table[slot] - 1;
                if (k < 0)
                {
                    if (keys == _keyStart.Length)
                    {
                        System.Array.Resize(ref _keyStart, keys * 2);
                        System.Array.Resize(ref _keyLen, keys * 2);
                    }
                    _keyStart[keys] = b;
                    _keyLen[keys] = value.Length;
                    table[slot] = keys + 1;
                    _index[i] = keys++;
                    break;
                }
                if (_keyLen[k] == value.Length && data.Slice(_keyStart[k], _keyLen[k]).SequenceEqual(value))
                {
                    _index[i] = k;
                    break;
                }
                slot = (slot + 1) & mask;
            }
        }
        var width = keys <= 256 ? 1 : keys <= 65536 ? 2 : 4;
        var dst = o.Reserve((int)MaxBytes(a, start, count));
        var p = 0;
        BinaryPrimitives.WriteUInt64LittleEndian(dst[p..], SharedDictionariesWithAdditionalKeys);
        p += 8;
        BinaryPrimitives.WriteUInt64LittleEndian(dst[p..], (ulong)(width switch { 1 => 0, 2 => 1, _ => 2 }) | HasAdditionalKeysBit);
        p += 8;
        BinaryPrimitives.WriteUInt64LittleEndian(dst[p..], (ulong)keys);
        p += 8;
        for (var k = 0; k < keys; k++)
        {
            if (nullable && k == 0)
            {
                dst[p++] = 0;
                continue;
            }
            p += Varint.Write(dst[p..], (ulong)_keyLen[k]);
            data.Slice(_keyStart[k], _keyLen[k]).CopyTo(dst[p..]);
            p += _keyLen[k];
        }
        BinaryPrimitives.WriteUInt64LittleEndian(dst[p..], (ulong)count);
        p += 8;
        switch (width)
        {
            case 1:
                for (var i = 0; i < count; i++) dst[p + i] = (byte)_index[i];
                break;
            case 2:
                for (var i = 0; i < count; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(p + i * 2)..], (ushort)_index[i]);
                break;
            default:
                MemoryMarshal.AsBytes(_index.AsSpan(0, count)).CopyTo(dst[p..]);
                break;
        }
        p += count * width;
        o.Advance(p);
    }
}

/// <summary>Engine dates (int32 days) to Date (UInt16 days from 1970) or Date32 (Int32 days, 1900–2299).</summary>
internal sealed class DateWriter(bool date32) : ColumnWriter
{
    private const int Date32Min = -25567;
    private const int Date32Max = 120529;

    public override bool MayReject => true;

    public override void Check(IArrowArray a, int start, int count, string column, RowRejects rejects)
    {
        var v = Values<int>(a);
        int lo = date32 ? Date32Min : 0, hi = date32 ? Date32Max : ushort.MaxValue;
        for (var i = start; i < start + count; i++)
        {
            if ((v[i] < lo || v[i] > hi) && !IsNull(a, i))
                rejects.Add(i, column, $"date {DateOnly.FromDayNumber(Math.Clamp(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + v[i], 0, DateOnly.MaxValue.DayNumber)):yyyy-MM-dd} is outside the range of {(date32 ? "Date32 (1900-01-01..2299-12-31)" : "Date (1970-01-01..2149-06-06)")}");
        }
    }

    public override long MaxBytes(IArrowArray a, int start, int count) => count * (date32 ? 4L : 2L);

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var src = Values<int>(a).Slice(start, count);
        if (date32)
        {
            MemoryMarshal.AsBytes(src).CopyTo(o.Reserve(count * 4));
            o.Advance(count * 4);
            return;
        }
        var dst = MemoryMarshal.Cast<byte, ushort>(o.Reserve(count * 2)[..(count * 2)]);
        for (var i = 0; i < count; i++) dst[i] = (ushort)src[i];
        o.Advance(count * 2);
    }
}

/// <summary>How an engine timestamp (int64 µs UTC) is stored.</summary>
internal enum TimestampTarget
{
    /// <summary>DateTime: UInt32 seconds (floor), 1970..2106.</summary>
    Seconds,
    /// <summary>DateTime64(p): Int64 ticks of 10^-p s.</summary>
    Ticks,
    /// <summary>Int64 microseconds (lossless on servers without DateTime64).</summary>
    Micros,
}

internal sealed class TimestampWriter(TimestampTarget target, int precision) : ColumnWriter
{
    private readonly long _div = target == TimestampTarget.Ticks && precision < 6 ? Pow10(6 - precision) : target == TimestampTarget.Seconds ? 1_000_000 : 1;
    private readonly long _mul = target == TimestampTarget.Ticks && precision > 6 ? Pow10(precision - 6) : 1;

    private static long Pow10(int n)
    {
        long r = 1;
        for (var i = 0; i < n; i++) r *= 10;
        return r;
    }

    public override bool MayReject => target == TimestampTarget.Seconds || _mul > 1;

    public override void Check(IArrowArray a, int start, int count, string column, RowRejects rejects)
    {
        var v = Values<long>(a);
        for (var i = start; i < start + count; i++)
        {
            if (IsNull(a, i)) continue;
            if (target == TimestampTarget.Seconds)
            {
                var s = Math.DivRem(v[i], 1_000_000, out var rem) - (rem < 0 ? 1 : 0);
                if (s < 0 || s > uint.MaxValue) rejects.Add(i, column, $"timestamp {v[i]} µs is outside the range of DateTime (1970-01-01..2106-02-07)");
            }
            else if (_mul > 1 && (v[i] > long.MaxValue / _mul || v[i] < long.MinValue / _mul))
            {
                rejects.Add(i, column, $"timestamp {v[i]} µs overflows DateTime64({precision})");
            }
        }
    }

    public override long MaxBytes(IArrowArray a, int start, int count) => count * (target == TimestampTarget.Seconds ? 4L : 8L);

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var src = Values<long>(a).Slice(start, count);
        if (target == TimestampTarget.Seconds)
        {
            var d = MemoryMarshal.Cast<byte, uint>(o.Reserve(count * 4)[..(count * 4)]);
            for (var i = 0; i < count; i++)
            {
                var q = Math.DivRem(src[i], 1_000_000, out var rem);
                d[i] = (uint)(q - (rem < 0 ? 1 : 0));
            }
            o.Advance(count * 4);
            return;
        }
        if (_div == 1 && _mul == 1)
        {
            MemoryMarshal.AsBytes(src).CopyTo(o.Reserve(count * 8));
            o.Advance(count * 8);
            return;
        }
        var dst = MemoryMarshal.Cast<byte, long>(o.Reserve(count * 8)[..(count * 8)]);
        for (var i = 0; i < count; i++)
        {
            if (_mul > 1)
            {
                dst[i] = unchecked(src[i] * _mul);
            }
            else
            {
                var q = Math.DivRem(src[i], _div, out var rem);
                dst[i] = q - (rem < 0 ? 1 : 0);
            }
        }
        o.Advance(count * 8);
    }
}

/// <summary>Integers or floats to Decimal(P, S): the unscaled value as a 4/8/16-byte little-endian integer.</summary>
internal sealed class DecimalWriter : ColumnWriter
{
    private readonly ArrowTypeId _source;
    private readonly int _precision;
    private readonly int _scale;
    private readonly int _width;
    private readonly Int128 _limit;
    private readonly Int128 _factor;

    public DecimalWriter(ArrowTypeId source, int precision, int scale)
    {
        _source = source;
        _precision = precision;
        _scale = scale;
        _width = precision <= 9 ? 4 : precision <= 18 ? 8 : 16;
        _limit = Pow10(precision);
        _factor = Pow10(scale);
    }

    private static Int128 Pow10(int n)
    {
        Int128 r = 1;
        for (var i = 0; i < n; i++) r *= 10;
        return r;
    }

    public override bool MayReject => true;

    public override void Check(IArrowArray a, int start, int count, string column, RowRejects rejects)
    {
        for (var i = start; i < start + count; i++)
        {
            if (IsNull(a, i)) continue;
            if (!TryUnscaled(a, i, out _, out var why)) rejects.Add(i, column, why);
        }
    }

    private bool TryUnscaled(IArrowArray a, int i, out Int128 unscaled, out string why)
    {
        why = "";
        unscaled = 0;
        if (_source == ArrowTypeId.Double)
        {
            var d = Values<double>(a)[i];
            Span<char> text = stackalloc char[32];
            if (!double.IsFinite(d) || !d.TryFormat(text, out var n, "R", CultureInfo.InvariantCulture)
                || !decimal.TryParse(text[..n], NumberStyles.Float, CultureInfo.InvariantCulture, out var m))
            {
                why = $"{d.ToString("R", CultureInfo.InvariantCulture)} cannot be a Decimal({_precision}, {_scale})";
                return false;
            }
            m = Math.Round(m, Math.Min(_scale, 28), MidpointRounding.ToEven);
            Span<int> bits = stackalloc int[4];
            decimal.GetBits(m, bits);
            var mantissa = ((Int128)(uint)bits[2] << 64) | ((Int128)(uint)bits[1] << 32) | (uint)bits[0];
            var sc = (bits[3] >> 16) & 0xFF;
            if (_scale - sc > 38) return Overflow(d.ToString("R", CultureInfo.InvariantCulture), out why);
            var mul = Pow10(_scale - sc);
            if (mantissa != 0 && mantissa > Int128.MaxValue / mul) return Overflow(d.ToString("R", CultureInfo.InvariantCulture), out why);
            unscaled = mantissa * mul;
            if (bits[3] < 0) unscaled = -unscaled;
        }
        else
        {
            long v = _source == ArrowTypeId.Int32 ? Values<int>(a)[i] : Values<long>(a)[i];
            Int128 w = v;
            if (Int128.Abs(w) > (_limit - 1) / _factor) return Overflow(v.ToString(CultureInfo.InvariantCulture), out why);
            unscaled = w * _factor;
        }
        if (Int128.Abs(unscaled) >= _limit) return Overflow(unscaled.ToString(CultureInfo.InvariantCulture) + $"e-{_scale}", out why);
        return true;
    }

    private bool Overflow(string value, out string why)
    {
        why = $"{value} does not fit Decimal({_precision}, {_scale})";
        return false;
    }

    public override long MaxBytes(IArrowArray a, int start, int count) => (long)count * _width;

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var dst = o.Reserve(count * _width);
        for (var i = 0; i < count; i++)
        {
            TryUnscaled(a, start + i, out var u, out _);
            var d = dst[(i * _width)..];
            switch (_width)
            {
                case 4: BinaryPrimitives.WriteInt32LittleEndian(d, (int)u); break;
                case 8: BinaryPrimitives.WriteInt64LittleEndian(d, (long)u); break;
                default: BinaryPrimitives.WriteInt128LittleEndian(d, u); break;
            }
        }
        o.Advance(count * _width);
    }
}

/// <summary>Nullable(T): a null map (1 = NULL, one byte per row) followed by T's values for every row.</summary>
internal sealed class NullableWriter(ColumnWriter inner) : ColumnWriter
{
    public override bool MayReject => inner.MayReject;

    public override void Check(IArrowArray a, int start, int count, string column, RowRejects rejects) =>
        inner.Check(a, start, count, column, rejects);

    public override long MaxBytes(IArrowArray a, int start, int count) => count + inner.MaxBytes(a, start, count);

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var dst = o.Reserve(count)[..count];
        if (a.NullCount == 0 || a.Data.Buffers[0].IsEmpty)
        {
            dst.Clear();
        }
        else
        {
            var bits = a.Data.Buffers[0].Span;
            var off = a.Data.Offset + start;
            for (var i = 0; i < count; i++)
            {
                var j = off + i;
                dst[i] = (byte)(((bits[j >> 3] >> (j & 7)) & 1) ^ 1);
            }
        }
        o.Advance(count);
        inner.Write(a, start, count, o);
    }
}

/// <summary>A nullable input into a column that is not Nullable: NULL rows are rejected (never turned into defaults).</summary>
internal sealed class NotNullWriter(ColumnWriter inner) : ColumnWriter
{
    public override bool MayReject => true;

    public override void Check(IArrowArray a, int start, int count, string column, RowRejects rejects)
    {
        if (a.NullCount > 0)
            for (var i = start; i < start + count; i++)
                if (IsNull(a, i)) rejects.Add(i, column, "NULL into a column that is not Nullable");
        inner.Check(a, start, count, column, rejects);
    }

    public override long MaxBytes(IArrowArray a, int start, int count) => inner.MaxBytes(a, start, count);

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o) => inner.Write(a, start, count, o);
}

/// <summary>Array(T) from an Arrow list: cumulative UInt64 end offsets, then the elements.</summary>
internal sealed class ArrayWriter(ColumnWriter element) : ColumnWriter
{
    public override bool MayReject => true;

    public override void Check(IArrowArray a, int start, int count, string column, RowRejects rejects)
    {
        var list = (ListArray)a;
        var offsets = list.ValueOffsets;
        for (var i = start; i < start + count; i++)
            if (IsNull(a, i)) rejects.Add(i, column, "NULL into an Array column (arrays cannot be NULL in ClickHouse)");
        if (!element.MayReject) return;
        var inner = new RowRejects();
        var first = offsets[start];
        element.Check(list.Values, first, offsets[start + count] - first, column + "[]", inner);
        foreach (var (e, why) in inner.Sorted)
        {
            // The row whose [offsets[row], offsets[row+1]) holds element e.
            var row = start;
            while (offsets[row + 1] <= e) row++;
            rejects.Add(row, column, "element " + why);
        }
    }

    public override long MaxBytes(IArrowArray a, int start, int count)
    {
        var offsets = ((ListArray)a).ValueOffsets;
        return count * 8L + element.MaxBytes(((ListArray)a).Values, offsets[start], offsets[start + count] - offsets[start]);
    }

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var list = (ListArray)a;
        var offsets = list.ValueOffsets;
        var first = offsets[start];
        var dst = MemoryMarshal.Cast<byte, ulong>(o.Reserve(count * 8)[..(count * 8)]);
        for (var i = 0; i < count; i++) dst[i] = (ulong)(offsets[start + i + 1] - first);
        o.Advance(count * 8);
        element.Write(list.Values, first, offsets[start + count] - first, o);
    }
}

/// <summary>A bookkeeping column with one value for every row (writer identity, checkpoint).</summary>
internal sealed class ConstantWriter : ColumnWriter
{
    private readonly byte[] _value;
    private readonly bool _lowCardinality;

    private ConstantWriter(byte[] value, bool lowCardinality)
    {
        _value = value;
        _lowCardinality = lowCardinality;
    }

    public static ConstantWriter String(string value, bool lowCardinality)
    {
        var utf8 = System.Text.Encoding.UTF8.GetBytes(value);
        var b = new byte[utf8.Length + 5];
        var n = Varint.Write(b, (ulong)utf8.Length);
        utf8.CopyTo(b, n);
        return new ConstantWriter(b[..(n + utf8.Length)], lowCardinality);
    }

    public static ConstantWriter Integer(ulong value, int width)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        return new ConstantWriter(b[..width], false);
    }

    public override long MaxBytes(IArrowArray a, int start, int count) => _lowCardinality ? 32 + _value.Length + count : (long)count * _value.Length;

    public override void Write(IArrowArray a, int start, int count, EncodeBuffer o)
    {
        var dst = o.Reserve((int)MaxBytes(a, start, count));
        if (_lowCardinality)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(dst, 1);
            BinaryPrimitives.WriteUInt64LittleEndian(dst[8..], 1UL << 9);
            BinaryPrimitives.WriteUInt64LittleEndian(dst[16..], 1);
            _value.CopyTo(dst[24..]);
            var p = 24 + _value.Length;
            BinaryPrimitives.WriteUInt64LittleEndian(dst[p..], (ulong)count);
            dst.Slice(p + 8, count).Clear();
            o.Advance(p + 8 + count);
            return;
        }
        var v = _value.AsSpan();
        if (v.Length == 8)
        {
            MemoryMarshal.Cast<byte, ulong>(dst[..(count * 8)]).Fill(BinaryPrimitives.ReadUInt64LittleEndian(v));
        }
        else
        {
            for (var i = 0; i < count; i++) v.CopyTo(dst[(i * v.Length)..]);
        }
        o.Advance(count * v.Length);
    }
}

/// <summary>Chooses the writer for an (Arrow input, ClickHouse target) pair, or explains why there is none.</summary>
internal static class ColumnWriters
{
    public static ColumnWriter? Create(IArrowType input, bool inputNullable, ChType target, out string? error)
    {
        error = null;
        switch (target.Kind)
        {
            case ChKind.Nullable:
                var v = Value(input, target.Inner!, out error);
                return v == null ? null : new NullableWriter(v);
            case ChKind.LowCardinality:
            {
                var inner = target.Inner!;
                var nullable = inner.Kind == ChKind.Nullable;
                var value = nullable ? inner.Inner! : inner;
                if (value.Kind != ChKind.String || input.TypeId != ArrowTypeId.String)
                {
                    error = $"{Describe(input)} cannot be written to {target.Text} (LowCardinality is supported for String)";
                    return null;
                }
                var w = new LowCardinalityWriter(nullable);
                return nullable || !inputNullable ? w : new NotNullWriter(w);
            }
            default:
                var plain = Value(input, target, out error);
                return plain == null ? null : inputNullable ? new NotNullWriter(plain) : plain;
        }
    }

    private static ColumnWriter? Value(IArrowType input, ChType t, out string? error)
    {
        error = null;
        ColumnWriter? w = (input.TypeId, t.Kind) switch
        {
            (ArrowTypeId.Boolean, ChKind.UInt8 or ChKind.Int8 or ChKind.Bool) => new BoolWriter(),
            (ArrowTypeId.Int32, ChKind.Int32) => new CopyWriter<int>(),
            (ArrowTypeId.Int32, ChKind.Int64) => new IntWriter(4, 8, int.MinValue, int.MaxValue),
            (ArrowTypeId.Int32, ChKind.Int8) => new IntWriter(4, 1, sbyte.MinValue, (ulong)sbyte.MaxValue),
            (ArrowTypeId.Int32, ChKind.Int16) => new IntWriter(4, 2, short.MinValue, (ulong)short.MaxValue),
            (ArrowTypeId.Int32, ChKind.UInt8) => new IntWriter(4, 1, 0, byte.MaxValue),
            (ArrowTypeId.Int32, ChKind.UInt16) => new IntWriter(4, 2, 0, ushort.MaxValue),
            (ArrowTypeId.Int32, ChKind.UInt32) => new IntWriter(4, 4, 0, uint.MaxValue),
            (ArrowTypeId.Int32, ChKind.UInt64) => new IntWriter(4, 8, 0, ulong.MaxValue),
            (ArrowTypeId.Int32, ChKind.Float64) => new Int32ToFloat64Writer(),
            (ArrowTypeId.Int64, ChKind.Int64) => new CopyWriter<long>(),
            (ArrowTypeId.Int64, ChKind.UInt64) => new IntWriter(8, 8, 0, ulong.MaxValue),
            (ArrowTypeId.Int64, ChKind.Int32) => new IntWriter(8, 4, int.MinValue, int.MaxValue),
            (ArrowTypeId.Int64, ChKind.UInt32) => new IntWriter(8, 4, 0, uint.MaxValue),
            (ArrowTypeId.Int64, ChKind.Int16) => new IntWriter(8, 2, short.MinValue, (ulong)short.MaxValue),
            (ArrowTypeId.Int64, ChKind.UInt16) => new IntWriter(8, 2, 0, ushort.MaxValue),
            (ArrowTypeId.Int64, ChKind.Int8) => new IntWriter(8, 1, sbyte.MinValue, (ulong)sbyte.MaxValue),
            (ArrowTypeId.Int64, ChKind.UInt8) => new IntWriter(8, 1, 0, byte.MaxValue),
            (ArrowTypeId.Int32 or ArrowTypeId.Int64 or ArrowTypeId.Double, ChKind.Decimal) when t.Precision <= 38 && (input.TypeId != ArrowTypeId.Double || t.Scale <= 28)
                => new DecimalWriter(input.TypeId, t.Precision, t.Scale),
            (ArrowTypeId.Double, ChKind.Float64) => new CopyWriter<double>(),
            (ArrowTypeId.Double, ChKind.Float32) => new Float64ToFloat32Writer(),
            (ArrowTypeId.String, ChKind.String) => new StringWriter(),
            (ArrowTypeId.String, ChKind.FixedString) => new FixedStringWriter(t.Length),
            (ArrowTypeId.Timestamp, ChKind.DateTime) when IsMicros(input) => new TimestampWriter(TimestampTarget.Seconds, 0),
            (ArrowTypeId.Timestamp, ChKind.DateTime64) when IsMicros(input) && t.Scale <= 9 => new TimestampWriter(TimestampTarget.Ticks, t.Scale),
            (ArrowTypeId.Timestamp, ChKind.Int64) when IsMicros(input) => new TimestampWriter(TimestampTarget.Micros, 6),
            (ArrowTypeId.Date32, ChKind.Date) => new DateWriter(date32: false),
            (ArrowTypeId.Date32, ChKind.Date32) => new DateWriter(date32: true),
            (ArrowTypeId.List, ChKind.Array) => ListWriter((ListType)input, t, out error),
            _ => null,
        };
        if (w == null) error ??= $"{Describe(input)} cannot be written to {t.Text}";
        return w;
    }

    private static ArrayWriter? ListWriter(ListType list, ChType array, out string? error)
    {
        var element = Create(list.ValueDataType, list.ValueField.IsNullable, array.Inner!, out error);
        return element == null ? null : new ArrayWriter(element);
    }

    private static bool IsMicros(IArrowType t) => ((TimestampType)t).Unit == TimeUnit.Microsecond;

    /// <summary>The engine's name for an Arrow input type (e.g. <c>int64</c>, <c>list&lt;string&gt;</c>).</summary>
    public static string Describe(IArrowType t) =>
        t is ListType l ? $"list<{Describe(l.ValueDataType)}>"
        : AiEtl.Engine.Columns.ColumnTypes.TryFromArrow(t, out var k) ? AiEtl.Engine.Columns.ColumnTypes.Name(k) : t.Name;

    /// <summary>True when the sink can take this Arrow input type at all.</summary>
    public static bool IsSupportedInput(IArrowType t) =>
        t is ListType l ? IsSupportedInput(l.ValueDataType) && l.ValueDataType is not ListType : AiEtl.Engine.Columns.ColumnTypes.TryFromArrow(t, out _);
}
