using System.Runtime.CompilerServices;

namespace AiEtl.Engine.Operators.Aggregation;

/// <summary>
/// Open-addressing hash index from a 64-bit group hash to a group id (linear probing, load ≤ 1/2).
/// A slot is <c>(upper 32 bits of the hash) &lt;&lt; 32 | (group id + 1)</c>, 0 when empty. The home of a hash
/// is its top bits, which are also in the slot's tag, so deleting (backward shift) and growing read the
/// slots only, never the groups. Key equality is the caller's business (<see cref="GroupStore.Matches"/>):
/// the index only narrows candidates by tag. TUMBLE and HOP keep one index per open window, so a
/// closing window drops its index whole instead of deleting its groups one by one.
/// </summary>
internal sealed unsafe class HashIndex : IDisposable
{
    private const ulong TagMask = 0xFFFF_FFFF_0000_0000UL;
    private NativeArray<ulong> _slots;
    private int _bits;

    /// <param name="expected">Entries expected (sizes the table to avoid early growth).</param>
    public HashIndex(int expected)
    {
        _bits = 4;
        while ((1L << _bits) < 2L * Math.Max(expected, 8)) _bits++;
        _slots = Allocate(_bits);
    }

    /// <summary>Entries held.</summary>
    public int Count { get; private set; }

    public ulong* Slots => _slots.P;
    public int Mask => (1 << _bits) - 1;
    public int Shift => 64 - _bits;
    public long Bytes => _slots.Bytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Tag(ulong hash) => hash & TagMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int GroupOf(ulong slot) => (int)(uint)slot - 1;

    private static NativeArray<ulong> Allocate(int bits)
    {
        var a = new NativeArray<ulong>(1 << bits);
        a.Fill(0, a.Capacity, 0);
        return a;
    }

    /// <summary>Puts group <paramref name="g"/> (hash <paramref name="hash"/>) in empty slot <paramref name="slot"/> found by probing; grows when half full.</summary>
    public void Insert(ulong hash, int g, int slot)
    {
        if ((Count + 1) * 2 > 1 << _bits)
        {
            Grow();
            slot = EmptySlot(hash);
        }
        _slots.P[slot] = (hash & TagMask) | (uint)(g + 1);
        Count++;
    }

    private int EmptySlot(ulong hash)
    {
        var mask = Mask;
        var i = (int)(hash >> Shift);
        while (_slots.P[i] != 0) i = (i + 1) & mask;
        return i;
    }

    public void Replace(int slot, int g) => _slots.P[slot] = (_slots.P[slot] & TagMask) | (uint)(g + 1);

    /// <summary>Empties slot <paramref name="i"/> (backward-shift deletion: no tombstones).</summary>
    public void RemoveAt(int i)
    {
        var slots = _slots.P;
        var mask = Mask;
        var shift = Shift;
        var j = i;
        while (true)
        {
            j = (j + 1) & mask;
            var s = slots[j];
            if (s == 0) break;
            var home = (int)(s >> shift);
            if (((j - home) & mask) >= ((j - i) & mask))
            {
                slots[i] = s;
                i = j;
            }
        }
        slots[i] = 0;
        Count--;
    }

    private void Grow()
    {
        var old = _slots;
        var oldSize = 1 << _bits;
        _bits++;
        _slots = Allocate(_bits);
        var mask = Mask;
        var shift = Shift;
        for (var i = 0; i < oldSize; i++)
        {
            var s = old.P[i];
            if (s == 0) continue;
            var j = (int)(s >> shift);
            while (_slots.P[j] != 0) j = (j + 1) & mask;
            _slots.P[j] = s;
        }
        old.Dispose();
    }

    public void Dispose() => _slots.Dispose();
}
