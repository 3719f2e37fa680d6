using System.IO.Hashing;

namespace AiEtl.Engine.Operators.Aggregation;

/// <summary>
/// Reference-counted interned UTF-8 strings in one byte arena: string group keys, string min/max values and
/// count(DISTINCT) members are held as ids into it, so per-group state stays fixed-width. An id is freed
/// when its last reference goes; the arena is compacted when more than half of it is dead, so memory
/// follows the strings still referenced by open groups. Ids stay stable across compaction.
/// </summary>
internal sealed class StringPool
{
    private byte[] _arena = new byte[4096];
    private int _used;
    private long _dead;
    private int[] _offset = new int[64];
    private int[] _length = new int[64];
    private int[] _refs = new int[64];
    private ulong[] _hash = new ulong[64];
    private int _high;
    private int[] _free = new int[16];
    private int _freeCount;
    private int[] _slots = new int[128]; // id + 1, 0 = empty
    private int _mask = 127;

    /// <summary>Strings currently referenced.</summary>
    public int Count { get; private set; }

    /// <summary>Bytes held (arena + tables).</summary>
    public long Bytes => _arena.Length + _offset.Length * 24L + _slots.Length * 4L;

    public static ulong Hash(ReadOnlySpan<byte> utf8) => XxHash3.HashToUInt64(utf8);

    public ReadOnlySpan<byte> Get(int id) => _arena.AsSpan(_offset[id], _length[id]);

    public ulong HashOf(int id) => _hash[id];

    /// <summary>Finds or adds the string and takes one reference to it.</summary>
    public int Intern(ReadOnlySpan<byte> utf8) => Intern(utf8, Hash(utf8));

    /// <summary>Finds or adds the string (whose <see cref="Hash"/> is <paramref name="hash"/>) and takes one reference.</summary>
    public int Intern(ReadOnlySpan<byte> utf8, ulong hash)
    {
        var i = (int)hash & _mask;
        while (true)
        {
            var s = _slots[i];
            if (s == 0) break;
            var id = s - 1;
            if (_hash[id] == hash && Get(id).SequenceEqual(utf8))
            {
                _refs[id]++;
                return id;
            }
            i = (i + 1) & _mask;
        }
        return Add(utf8, hash);
    }

    public void AddRef(int id) => _refs[id]++;

    /// <summary>Drops one reference; the string is freed with its last one.</summary>
    public void Release(int id)
    {
        if (--_refs[id] > 0) return;
        if (_refs[id] < 0) throw new InvalidOperationException("string pool: reference released twice");
        RemoveSlot(id);
        _dead += _length[id];
        if (_freeCount == _free.Length) System.Array.Resize(ref _free, _free.Length * 2);
        _free[_freeCount++] = id;
        Count--;
        if (_dead > 65_536 && _dead * 2 > _used) Compact();
    }

    private int Add(ReadOnlySpan<byte> utf8, ulong hash)
    {
        if ((Count + 1) * 2 > _slots.Length) Rehash(_slots.Length * 2);
        int id;
        if (_freeCount > 0) id = _free[--_freeCount];
        else
        {
            id = _high++;
            if (id == _offset.Length)
            {
                var n = _offset.Length * 2;
                System.Array.Resize(ref _offset, n);
                System.Array.Resize(ref _length, n);
                System.Array.Resize(ref _refs, n);
                System.Array.Resize(ref _hash, n);
            }
        }
        if ((long)_used + utf8.Length > _arena.Length)
        {
            var cap = (long)_arena.Length;
            while (cap < (long)_used + utf8.Length) cap *= 2;
            if (cap > System.Array.MaxLength) throw new InvalidOperationException("string pool exceeds 2 GiB");
            System.Array.Resize(ref _arena, (int)cap);
        }
        utf8.CopyTo(_arena.AsSpan(_used));
        _offset[id] = _used;
        _length[id] = utf8.Length;
        _used += utf8.Length;
        _refs[id] = 1;
        _hash[id] = hash;
        Count++;
        var i = (int)hash & _mask;
        while (_slots[i] != 0) i = (i + 1) & _mask;
        _slots[i] = id + 1;
        return id;
    }

    private void RemoveSlot(int id)
    {
        var i = (int)_hash[id] & _mask;
        while (_slots[i] != id + 1) i = (i + 1) & _mask;
        // Backward-shift deletion keeps linear probing free of tombstones.
        var j = i;
        while (true)
        {
            j = (j + 1) & _mask;
            var s = _slots[j];
            if (s == 0) break;
            var home = (int)_hash[s - 1] & _mask;
            if (((j - home) & _mask) >= ((j - i) & _mask))
            {
                _slots[i] = s;
                i = j;
            }
        }
        _slots[i] = 0;
    }

    private void Rehash(int capacity)
    {
        _slots = new int[capacity];
        _mask = capacity - 1;
        for (var id = 0; id < _high; id++)
        {
            if (_refs[id] <= 0) continue;
            var i = (int)_hash[id] & _mask;
            while (_slots[i] != 0) i = (i + 1) & _mask;
            _slots[i] = id + 1;
        }
    }

    private void Compact()
    {
        var live = _used - (int)_dead;
        var arena = new byte[Math.Max(4096, (int)Math.Min(System.Array.MaxLength, 2L * live))];
        var at = 0;
        for (var id = 0; id < _high; id++)
        {
            if (_refs[id] <= 0) continue;
            _arena.AsSpan(_offset[id], _length[id]).CopyTo(arena.AsSpan(at));
            _offset[id] = at;
            at += _length[id];
        }
        _arena = arena;
        _used = at;
        _dead = 0;
    }
}
