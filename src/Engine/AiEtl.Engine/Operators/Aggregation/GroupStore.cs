using System.Runtime.CompilerServices;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Operators.Aggregation;

/// <summary>
/// The groups of a window aggregation: a fixed-width key record per group in native memory,
/// <c>[key values… | null mask | string ids…]</c>, where a key value is the int64 form of a fixed-width value
/// (float64: its equality bits; bool: 0/1) or, for a string, the 64-bit hash of its bytes (the bytes are
/// interned in <see cref="Strings"/> and compared on a hash match); plus the group's hash and its window
/// (or session) start. Keys of a batch are first encoded and hashed a column at a time
/// (<see cref="PrepareKeys"/>), then matched against groups by row (<see cref="Matches"/>). Which group a
/// hash leads to is a <see cref="HashIndex"/>'s business. Group ids are dense and reused after
/// <see cref="Free"/> (a stack, so a window's groups stay close together), so memory follows the open groups.
/// </summary>
internal sealed unsafe class GroupStore : IDisposable
{
    private const ulong Seed = 0x243F6A8885A308D3UL;
    private const ulong NullMarker = 0xFFFF_FFFF_FFFF_FFFFUL;

    private readonly ColumnKind[] _kinds;
    private readonly int _k;
    private readonly int[] _stringKeys;   // key positions of string columns
    private readonly int _stride;         // longs per record
    private readonly int _maskAt;
    private readonly int _idsAt;

    private readonly NativeArray<long> _rec = new(1024);
    private readonly NativeArray<ulong> _hash = new(1024);
    private readonly NativeArray<long> _start = new(1024);
    private readonly NativeArray<byte> _alive = new(1024);
    private readonly NativeArray<int> _generation = new(1024);
    private readonly NativeArray<int> _free = new(1024);
    private int _freeCount;

    // The keys of the batch being processed, row-major (row r: _kv[r * _k + c]).
    private readonly NativeArray<long> _kv = new(1024);
    private readonly NativeArray<ulong> _km = new(1024);
    private readonly NativeArray<ulong> _kh = new(1024);
    private readonly StringArray?[] _strings;

    /// <param name="kinds">Kinds of the key columns.</param>
    /// <param name="strings">Where string keys are interned.</param>
    public GroupStore(ColumnKind[] kinds, StringPool strings)
    {
        if (kinds.Length > 63) throw new ArgumentException("at most 63 key columns", nameof(kinds));
        _kinds = kinds;
        _k = kinds.Length;
        Strings = strings;
        _stringKeys = [.. Enumerable.Range(0, _k).Where(c => kinds[c] == ColumnKind.String)];
        _maskAt = _k;
        _idsAt = _k + (_k > 0 ? 1 : 0);
        _stride = Math.Max(1, _idsAt + _stringKeys.Length);
        _strings = new StringArray?[_k];
        _rec.EnsureCapacity(1024 * _stride);
        _alive.Fill(0, _alive.Capacity, 0);
        _generation.Fill(0, _generation.Capacity, 0);
    }

    public StringPool Strings { get; }

    /// <summary>Group ids in use are below this.</summary>
    public int High { get; private set; }

    /// <summary>Live groups.</summary>
    public int Count { get; private set; }

    /// <summary>Groups that can be created before ids above <see cref="High"/> are needed.</summary>
    public int FreeIds => _freeCount;

    /// <summary>Bytes of native memory held (records, hashes, batch scratch).</summary>
    public long Bytes => _rec.Bytes + _hash.Bytes + _start.Bytes + _alive.Bytes + _generation.Bytes + _kv.Bytes + _km.Bytes + _kh.Bytes;

    /// <summary>The key hashes of the prepared batch, by row.</summary>
    public ulong* KeyHashes => _kh.P;

    /// <summary>One key column of a fixed-width kind: a record is just <c>[value, null mask]</c> (compared inline by hot loops).</summary>
    public bool HasSingleFixedKey => _k == 1 && _stringKeys.Length == 0;

    /// <summary>Encoded keys of the prepared batch, row-major (<c>KeyValues[r * keys + c]</c>).</summary>
    public long* KeyValues => _kv.P;

    /// <summary>Null masks of the prepared batch's keys, by row.</summary>
    public ulong* KeyNulls => _km.P;

    /// <summary>Key records (for prefetching): group g's is at <c>Records + g * Stride</c>.</summary>
    public long* Records => _rec.P;
    public int Stride => _stride;

    public bool IsAlive(int g) => _alive.P[g] != 0;
    public int Generation(int g) => _generation.P[g];
    public ulong HashOf(int g) => _hash.P[g];

    /// <summary>Window (or session) start of group <paramref name="g"/>.</summary>
    public ref long Start(int g) => ref _start.P[g];

    /// <summary>Makes room for group ids below <paramref name="capacity"/>.</summary>
    public void EnsureCapacity(int capacity)
    {
        _rec.EnsureCapacity(checked(capacity * _stride));
        _hash.EnsureCapacity(capacity);
        _start.EnsureCapacity(capacity);
        var before = _alive.Capacity;
        _alive.EnsureCapacity(capacity);
        if (_alive.Capacity > before) _alive.Fill(before, _alive.Capacity - before, 0);
        before = _generation.Capacity;
        _generation.EnsureCapacity(capacity);
        if (_generation.Capacity > before) _generation.Fill(before, _generation.Capacity - before, 0);
    }

    /// <summary>Encodes and hashes the key columns of a batch of <paramref name="n"/> rows.</summary>
    public void PrepareKeys(IArrowArray[] columns, int n)
    {
        _kv.EnsureCapacity(Math.Max(1, n * _k));
        _km.EnsureCapacity(n);
        _kh.EnsureCapacity(n);
        var kv = _kv.P;
        var km = _km.P;
        var kh = _kh.P;
        new Span<ulong>(kh, n).Fill(Seed);
        new Span<ulong>(km, n).Clear();
        for (var c = 0; c < _k; c++)
        {
            var col = columns[c];
            var bits = col.Data.Buffers[0].Span;
            var off = col.Data.Offset;
            var nulls = col.NullCount > 0;
            var k = _k;
            switch (_kinds[c])
            {
                case ColumnKind.Int64 or ColumnKind.Timestamp:
                {
                    var v = Gather.Values<long>(col);
                    for (var i = 0; i < n; i++)
                    {
                        if (nulls && !Gather.IsValid(bits, off, i)) { SetNull(i, c); continue; }
                        kv[i * k + c] = v[i];
                        kh[i] = KeyHash.Mix(kh[i], (ulong)v[i]);
                    }
                    break;
                }
                case ColumnKind.Int32 or ColumnKind.Date:
                {
                    var v = Gather.Values<int>(col);
                    for (var i = 0; i < n; i++)
                    {
                        if (nulls && !Gather.IsValid(bits, off, i)) { SetNull(i, c); continue; }
                        kv[i * k + c] = v[i];
                        kh[i] = KeyHash.Mix(kh[i], (ulong)(long)v[i]);
                    }
                    break;
                }
                case ColumnKind.Float64:
                {
                    var v = Gather.Values<double>(col);
                    for (var i = 0; i < n; i++)
                    {
                        if (nulls && !Gather.IsValid(bits, off, i)) { SetNull(i, c); continue; }
                        var x = AggState.DoubleKey(v[i]);
                        kv[i * k + c] = x;
                        kh[i] = KeyHash.Mix(kh[i], (ulong)x);
                    }
                    break;
                }
                case ColumnKind.Bool:
                {
                    var values = col.Data.Buffers[1].Span;
                    for (var i = 0; i < n; i++)
                    {
                        if (nulls && !Gather.IsValid(bits, off, i)) { SetNull(i, c); continue; }
                        var x = AggState.Bit(values, off, i) ? 1L : 0L;
                        kv[i * k + c] = x;
                        kh[i] = KeyHash.Mix(kh[i], (ulong)x);
                    }
                    break;
                }
                case ColumnKind.String:
                {
                    var s = (StringArray)col;
                    _strings[c] = s;
                    for (var i = 0; i < n; i++)
                    {
                        if (nulls && !Gather.IsValid(bits, off, i)) { SetNull(i, c); continue; }
                        var h = StringPool.Hash(s.GetBytes(i));
                        kv[i * k + c] = (long)h;
                        kh[i] = KeyHash.Mix(kh[i], h);
                    }
                    break;
                }
                default:
                    throw new NotSupportedException(_kinds[c].ToString());
            }
        }
    }

    private void SetNull(int i, int c)
    {
        _kv.P[i * _k + c] = 0;
        _km.P[i] |= 1UL << c;
        _kh.P[i] = KeyHash.Mix(_kh.P[i], NullMarker ^ (ulong)c);
    }

    /// <summary>Whether group <paramref name="g"/> has the key of prepared row <paramref name="r"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Matches(int g, int r)
    {
        var rec = _rec.P + (long)g * _stride;
        var kv = _kv.P + (long)r * _k;
        for (var c = 0; c < _k; c++)
            if (rec[c] != kv[c]) return false;
        if (_k > 0 && (ulong)rec[_maskAt] != _km.P[r]) return false;
        return _stringKeys.Length == 0 || StringsMatch(rec, r);
    }

    private bool StringsMatch(long* rec, int r)
    {
        var nulls = (ulong)rec[_maskAt];
        for (var s = 0; s < _stringKeys.Length; s++)
        {
            var c = _stringKeys[s];
            if ((nulls & (1UL << c)) != 0) continue;
            if (!Strings.Get((int)rec[_idsAt + s]).SequenceEqual(_strings[c]!.GetBytes(r))) return false;
        }
        return true;
    }

    /// <summary>Whether groups <paramref name="a"/> and <paramref name="b"/> have the same key.</summary>
    public bool SameKey(int a, int b)
    {
        var x = _rec.P + (long)a * _stride;
        var y = _rec.P + (long)b * _stride;
        for (var i = 0; i < _stride; i++)
            if (x[i] != y[i]) return false;
        return true;
    }

    /// <summary>A new group with the key of prepared row <paramref name="r"/>. The caller has made room (<see cref="EnsureCapacity"/>).</summary>
    public int New(int r, ulong hash, long start)
    {
        var g = NewId();
        var rec = _rec.P + (long)g * _stride;
        var kv = _kv.P + (long)r * _k;
        for (var c = 0; c < _k; c++) rec[c] = kv[c];
        var nulls = _k > 0 ? _km.P[r] : 0;
        if (_k > 0) rec[_maskAt] = (long)nulls;
        for (var s = 0; s < _stringKeys.Length; s++)
        {
            var c = _stringKeys[s];
            rec[_idsAt + s] = (nulls & (1UL << c)) != 0 ? -1 : Strings.Intern(_strings[c]!.GetBytes(r), (ulong)kv[c]);
        }
        _hash.P[g] = hash;
        _start.P[g] = start;
        return g;
    }

    /// <summary>A new group with the key (and hash) of group <paramref name="proto"/>: another session of a key.</summary>
    public int NewLike(int proto, long start)
    {
        var g = NewId();
        var src = _rec.P + (long)proto * _stride;
        var rec = _rec.P + (long)g * _stride;
        for (var i = 0; i < _stride; i++) rec[i] = src[i];
        for (var s = 0; s < _stringKeys.Length; s++)
            if (rec[_idsAt + s] >= 0) Strings.AddRef((int)rec[_idsAt + s]);
        _hash.P[g] = _hash.P[proto];
        _start.P[g] = start;
        return g;
    }

    private int NewId()
    {
        var g = _freeCount > 0 ? _free.P[--_freeCount] : High++;
        if (g >= _alive.Capacity) throw new InvalidOperationException("group store: capacity not ensured");
        _alive.P[g] = 1;
        Count++;
        return g;
    }

    /// <summary>Releases group <paramref name="g"/>: its key strings, and its id for reuse.</summary>
    public void Free(int g)
    {
        var rec = _rec.P + (long)g * _stride;
        for (var s = 0; s < _stringKeys.Length; s++)
            if (rec[_idsAt + s] >= 0) Strings.Release((int)rec[_idsAt + s]);
        _alive.P[g] = 0;
        _generation.P[g]++;
        Count--;
        _free.EnsureCapacity(_freeCount + 1);
        _free.P[_freeCount++] = g;
    }

    /// <summary>Whether key column <paramref name="c"/> of group <paramref name="g"/> is NULL.</summary>
    public bool IsNull(int g, int c) => _k > 0 && ((ulong)_rec.P[(long)g * _stride + _maskAt] & (1UL << c)) != 0;

    /// <summary>Key column <paramref name="c"/> of group <paramref name="g"/> in its int64 form (not for strings).</summary>
    public long KeyValue(int g, int c) => _rec.P[(long)g * _stride + c];

    /// <summary>The UTF-8 bytes of string key column <paramref name="c"/> of group <paramref name="g"/> (not NULL).</summary>
    public ReadOnlySpan<byte> KeyString(int g, int c) => Strings.Get((int)_rec.P[(long)g * _stride + _idsAt + System.Array.IndexOf(_stringKeys, c)]);

    /// <summary>Key column <paramref name="c"/> of groups <c>ids[0..n)</c> as an Arrow array in pooled buffers.</summary>
    public IArrowArray GatherKey(int c, int* ids, int n, BatchAssembler asm)
    {
        var kind = _kinds[c];
        var rec = _rec.P;
        var stride = _stride;
        var bit = 1UL << c;
        var validity = asm.Rent((n + 7) / 8 + 8);
        var vb = validity.Pointer;
        new Span<byte>(vb, (n + 7) / 8).Clear();
        var nulls = 0;
        for (var i = 0; i < n; i++)
        {
            if (((ulong)rec[(long)ids[i] * stride + _maskAt] & bit) != 0) nulls++;
            else vb[i >> 3] |= (byte)(1 << (i & 7));
        }
        switch (kind)
        {
            case ColumnKind.Int64 or ColumnKind.Timestamp or ColumnKind.Float64:
            {
                var values = asm.Rent(Math.Max(n * 8, 8));
                var v = (long*)values.Pointer;
                for (var i = 0; i < n; i++) v[i] = rec[(long)ids[i] * stride + c];
                return asm.Fixed(kind, n, values, validity, nulls);
            }
            case ColumnKind.Int32 or ColumnKind.Date:
            {
                var values = asm.Rent(Math.Max(n * 4, 8));
                var v = (int*)values.Pointer;
                for (var i = 0; i < n; i++) v[i] = (int)rec[(long)ids[i] * stride + c];
                return asm.Fixed(kind, n, values, validity, nulls);
            }
            case ColumnKind.Bool:
            {
                var values = asm.Rent((n + 7) / 8 + 8);
                var v = values.Pointer;
                new Span<byte>(v, (n + 7) / 8).Clear();
                for (var i = 0; i < n; i++)
                    if (rec[(long)ids[i] * stride + c] != 0) v[i >> 3] |= (byte)(1 << (i & 7));
                return asm.Fixed(kind, n, values, validity, nulls);
            }
            default:
            {
                var slot = _idsAt + System.Array.IndexOf(_stringKeys, c);
                long total = 0;
                for (var i = 0; i < n; i++)
                {
                    var id = rec[(long)ids[i] * stride + slot];
                    if (id >= 0) total += Strings.Get((int)id).Length;
                }
                if (total > int.MaxValue) throw new InvalidOperationException("string key column exceeds 2 GiB in one result batch");
                var offsets = asm.Rent((n + 1) * 4);
                var bytes = asm.Rent((int)Math.Max(total, 8));
                var o = (int*)offsets.Pointer;
                var at = 0;
                o[0] = 0;
                for (var i = 0; i < n; i++)
                {
                    var id = rec[(long)ids[i] * stride + slot];
                    if (id >= 0)
                    {
                        var src = Strings.Get((int)id);
                        src.CopyTo(new Span<byte>(bytes.Pointer + at, src.Length));
                        at += src.Length;
                    }
                    o[i + 1] = at;
                }
                return asm.String(n, offsets, bytes, at, validity, nulls);
            }
        }
    }

    /// <summary>Key column <paramref name="c"/> of group <paramref name="g"/> as a boxed value (error reports).</summary>
    public object? KeyObject(int g, int c)
    {
        if (IsNull(g, c)) return null;
        var v = KeyValue(g, c);
        return _kinds[c] switch
        {
            ColumnKind.Int32 or ColumnKind.Date => (int)v,
            ColumnKind.Int64 or ColumnKind.Timestamp => v,
            ColumnKind.Float64 => BitConverter.Int64BitsToDouble(v),
            ColumnKind.Bool => v != 0,
            _ => System.Text.Encoding.UTF8.GetString(KeyString(g, c)),
        };
    }

    public void Dispose()
    {
        _rec.Dispose();
        _hash.Dispose();
        _start.Dispose();
        _free.Dispose();
        _alive.Dispose();
        _generation.Dispose();
        _kv.Dispose();
        _km.Dispose();
        _kh.Dispose();
    }
}
