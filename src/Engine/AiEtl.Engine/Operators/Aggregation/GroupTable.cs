using System.Runtime.CompilerServices;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Operators.Aggregation;

/// <summary>
/// Groups keyed by (key values[, window start]) in an open-addressing hash table (linear probing,
/// backward-shift deletion, load ≤ 1/2). Each group has a fixed-width key record in native memory:
/// <c>[window start | key values… | null mask | string ids…]</c>, where a key value is the int64 form of a
/// fixed-width value (float64: its equality bits; bool: 0/1) or, for a string, the 64-bit hash of its
/// bytes (the bytes themselves are interned in <see cref="Strings"/> and compared on a hash match).
/// A slot holds the upper 32 bits of the group hash and the group id + 1, so most mismatches are
/// rejected without touching the record. Keys of a batch are first encoded and hashed a column at a
/// time (<see cref="PrepareKeys"/>); probing then reads them by row.
/// Group ids are dense and reused after <see cref="Free"/>, so memory follows the open groups.
/// </summary>
internal sealed unsafe class GroupTable : IDisposable
{
    private const ulong Seed = 0x243F6A8885A308D3UL;
    private const ulong NullMarker = 0xFFFF_FFFF_FFFF_FFFFUL;
    private const ulong TagMask = 0xFFFF_FFFF_0000_0000UL;

    private readonly ColumnKind[] _kinds;
    private readonly int _k;
    private readonly bool _windowInKey;
    private readonly int[] _stringKeys;   // key positions of string columns
    private readonly int _stride;         // longs per record
    private readonly int _maskAt;
    private readonly int _idsAt;

    private readonly NativeArray<long> _rec = new(1024);
    private readonly NativeArray<ulong> _hash = new(1024);
    private readonly NativeArray<byte> _alive = new(1024);
    private readonly NativeArray<int> _generation = new(1024);
    private int[] _free = new int[64];
    private int _freeCount;

    private NativeArray<ulong> _slots;
    private int _mask;
    private int _used;

    // The keys of the batch being processed, row-major (row r: _kv[r * _k + c]).
    private readonly NativeArray<long> _kv = new(1024);
    private readonly NativeArray<ulong> _km = new(1024);
    private readonly NativeArray<ulong> _kh = new(1024);
    private readonly StringArray?[] _strings;

    /// <param name="kinds">Kinds of the key columns.</param>
    /// <param name="windowInKey">Whether the window start is part of the key (TUMBLE/HOP) or not (SESSION, plain GROUP BY).</param>
    /// <param name="strings">Where string keys are interned.</param>
    public GroupTable(ColumnKind[] kinds, bool windowInKey, StringPool strings)
    {
        if (kinds.Length > 63) throw new ArgumentException("at most 63 key columns", nameof(kinds));
        _kinds = kinds;
        _k = kinds.Length;
        _windowInKey = windowInKey;
        Strings = strings;
        _stringKeys = [.. Enumerable.Range(0, _k).Where(c => kinds[c] == ColumnKind.String)];
        _maskAt = 1 + _k;
        _idsAt = _maskAt + 1;
        _stride = _idsAt + _stringKeys.Length;
        _strings = new StringArray?[_k];
        _slots = new NativeArray<ulong>(1024);
        _slots.Fill(0, _slots.Capacity, 0);
        _mask = _slots.Capacity - 1;
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

    /// <summary>Bytes of native memory held (records, hashes, slots, batch scratch).</summary>
    public long Bytes => _rec.Bytes + _hash.Bytes + _alive.Bytes + _generation.Bytes + _slots.Bytes + _kv.Bytes + _km.Bytes + _kh.Bytes;

    /// <summary>The key hashes of the prepared batch, by row.</summary>
    public ulong* KeyHashes => _kh.P;

    public bool IsAlive(int g) => _alive.P[g] != 0;
    public int Generation(int g) => _generation.P[g];
    public ulong HashOf(int g) => _hash.P[g];

    /// <summary>Window (or session) start of group <paramref name="g"/>.</summary>
    public ref long Start(int g) => ref _rec.P[(long)g * _stride];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong WindowHash(ulong keyHash, long windowStart) => KeyHash.Mix(keyHash, (ulong)windowStart);

    /// <summary>Makes room for group ids below <paramref name="capacity"/>.</summary>
    public void EnsureCapacity(int capacity)
    {
        _rec.EnsureCapacity(checked(capacity * _stride));
        _hash.EnsureCapacity(capacity);
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

    /// <summary>
    /// The group of prepared row <paramref name="r"/> (and window <paramref name="ws"/> when windows are
    /// part of the key), or -1 with <paramref name="slot"/> = where to insert it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(int r, long ws, ulong h, out int slot)
    {
        var slots = _slots.P;
        var mask = _mask;
        var i = (int)h & mask;
        var tag = h & TagMask;
        while (true)
        {
            var s = slots[i];
            if (s == 0)
            {
                slot = i;
                return -1;
            }
            if ((s & TagMask) == tag)
            {
                var g = (int)(uint)s - 1;
                if (Matches(g, r, ws))
                {
                    slot = i;
                    return g;
                }
            }
            i = (i + 1) & mask;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Matches(int g, int r, long ws)
    {
        var rec = _rec.P + (long)g * _stride;
        if (_windowInKey && rec[0] != ws) return false;
        var kv = _kv.P + (long)r * _k;
        for (var c = 0; c < _k; c++)
            if (rec[1 + c] != kv[c]) return false;
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

    /// <summary>
    /// Creates a group for prepared row <paramref name="r"/> in the empty slot found by <see cref="Find"/>.
    /// The caller has made room (<see cref="EnsureCapacity"/>) for one more id.
    /// </summary>
    public int Add(int r, long ws, ulong h, int slot)
    {
        if ((_used + 1) * 2 > _mask + 1)
        {
            Resize((_mask + 1) * 2);
            slot = EmptySlot(h);
        }
        var g = NewId();
        var rec = _rec.P + (long)g * _stride;
        rec[0] = ws;
        var kv = _kv.P + (long)r * _k;
        for (var c = 0; c < _k; c++) rec[1 + c] = kv[c];
        if (_k > 0) rec[_maskAt] = (long)_km.P[r];
        var nulls = _k > 0 ? _km.P[r] : 0;
        for (var s = 0; s < _stringKeys.Length; s++)
        {
            var c = _stringKeys[s];
            rec[_idsAt + s] = (nulls & (1UL << c)) != 0 ? -1 : Strings.Intern(_strings[c]!.GetBytes(r), (ulong)kv[c]);
        }
        _hash.P[g] = h;
        _slots.P[slot] = (h & TagMask) | (uint)(g + 1);
        _used++;
        return g;
    }

    /// <summary>A new group with the key of <paramref name="proto"/> that is not in the hash table (another session of a key).</summary>
    public int AddLike(int proto, long start)
    {
        var g = NewId();
        var src = _rec.P + (long)proto * _stride;
        var rec = _rec.P + (long)g * _stride;
        for (var i = 0; i < _stride; i++) rec[i] = src[i];
        rec[0] = start;
        for (var s = 0; s < _stringKeys.Length; s++)
            if (rec[_idsAt + s] >= 0) Strings.AddRef((int)rec[_idsAt + s]);
        _hash.P[g] = _hash.P[proto];
        return g;
    }

    private int NewId()
    {
        var g = _freeCount > 0 ? _free[--_freeCount] : High++;
        if (g >= _alive.Capacity) throw new InvalidOperationException("group table: capacity not ensured");
        _alive.P[g] = 1;
        Count++;
        return g;
    }

    /// <summary>Releases group <paramref name="g"/> (its key strings; its id for reuse). It must not be in a slot.</summary>
    public void Free(int g)
    {
        var rec = _rec.P + (long)g * _stride;
        for (var s = 0; s < _stringKeys.Length; s++)
            if (rec[_idsAt + s] >= 0) Strings.Release((int)rec[_idsAt + s]);
        _alive.P[g] = 0;
        _generation.P[g]++;
        Count--;
        if (_freeCount == _free.Length) System.Array.Resize(ref _free, _free.Length * 2);
        _free[_freeCount++] = g;
    }

    /// <summary>Removes group <paramref name="g"/> from the hash table (it must be there).</summary>
    public void RemoveSlot(int g)
    {
        var i = SlotOf(g);
        var slots = _slots.P;
        var mask = _mask;
        var j = i;
        while (true)
        {
            j = (j + 1) & mask;
            var s = slots[j];
            if (s == 0) break;
            var home = (int)_hash.P[(int)(uint)s - 1] & mask;
            if (((j - home) & mask) >= ((j - i) & mask))
            {
                slots[i] = s;
                i = j;
            }
        }
        slots[i] = 0;
        _used--;
    }

    /// <summary>Puts <paramref name="replacement"/> (same key hash) in the slot of <paramref name="g"/>.</summary>
    public void ReplaceSlot(int g, int replacement)
    {
        var i = SlotOf(g);
        _slots.P[i] = (_slots.P[i] & TagMask) | (uint)(replacement + 1);
    }

    private int SlotOf(int g)
    {
        var i = (int)_hash.P[g] & _mask;
        while ((int)(uint)_slots.P[i] != g + 1)
        {
            if (_slots.P[i] == 0) throw new InvalidOperationException("group table: group not found in its slot chain");
            i = (i + 1) & _mask;
        }
        return i;
    }

    /// <summary>The group in the hash table whose key equals that of <paramref name="g"/> (sessions: the head of its key's list).</summary>
    public int FindSameKey(int g)
    {
        var h = _hash.P[g];
        var i = (int)h & _mask;
        var tag = h & TagMask;
        var a = _rec.P + (long)g * _stride;
        while (true)
        {
            var s = _slots.P[i];
            if (s == 0) return -1;
            if ((s & TagMask) == tag)
            {
                var other = (int)(uint)s - 1;
                var b = _rec.P + (long)other * _stride;
                var same = true;
                for (var x = 1; x < _stride && same; x++) same = a[x] == b[x];
                if (same) return other;
            }
            i = (i + 1) & _mask;
        }
    }

    private int EmptySlot(ulong h)
    {
        var i = (int)h & _mask;
        while (_slots.P[i] != 0) i = (i + 1) & _mask;
        return i;
    }

    private void Resize(int capacity)
    {
        var old = _slots;
        var oldCap = _mask + 1;
        _slots = new NativeArray<ulong>(capacity);
        _slots.Fill(0, _slots.Capacity, 0);
        _mask = _slots.Capacity - 1;
        for (var i = 0; i < oldCap; i++)
        {
            var s = old.P[i];
            if (s == 0) continue;
            var h = _hash.P[(int)(uint)s - 1];
            _slots.P[EmptySlot(h)] = s;
        }
        old.Dispose();
    }

    /// <summary>Whether key column <paramref name="c"/> of group <paramref name="g"/> is NULL.</summary>
    public bool IsNull(int g, int c) => _k > 0 && ((ulong)_rec.P[(long)g * _stride + _maskAt] & (1UL << c)) != 0;

    /// <summary>Key column <paramref name="c"/> of group <paramref name="g"/> in its int64 form (not for strings).</summary>
    public long KeyValue(int g, int c) => _rec.P[(long)g * _stride + 1 + c];

    /// <summary>The UTF-8 bytes of string key column <paramref name="c"/> of group <paramref name="g"/> (not NULL).</summary>
    public ReadOnlySpan<byte> KeyString(int g, int c) => Strings.Get((int)_rec.P[(long)g * _stride + _idsAt + System.Array.IndexOf(_stringKeys, c)]);

    /// <summary>Appends the key of group <paramref name="g"/> to columns <paramref name="first"/>… of <paramref name="b"/>.</summary>
    public void AppendKey(BatchBuilder b, int first, int g)
    {
        for (var c = 0; c < _k; c++)
        {
            var col = b[first + c];
            if (IsNull(g, c))
            {
                col.AppendNull();
                continue;
            }
            var v = KeyValue(g, c);
            switch (_kinds[c])
            {
                case ColumnKind.Int32 or ColumnKind.Date: col.AppendInt32((int)v); break;
                case ColumnKind.Int64 or ColumnKind.Timestamp: col.AppendInt64(v); break;
                case ColumnKind.Float64: col.AppendDouble(BitConverter.Int64BitsToDouble(v)); break;
                case ColumnKind.Bool: col.AppendBool(v != 0); break;
                case ColumnKind.String: col.AppendUtf8(KeyString(g, c)); break;
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
        _alive.Dispose();
        _generation.Dispose();
        _slots.Dispose();
        _kv.Dispose();
        _km.Dispose();
        _kh.Dispose();
    }
}
