namespace AiEtl.Engine.Operators.Aggregation;

/// <summary>
/// Min-heap of (close time, group, generation): when SESSION windows close. Entries are checked lazily when
/// they reach the top: a freed group (generation changed) is skipped, and a session that grew since its
/// entry was pushed is pushed again at its new close time — so extending a session costs nothing per row.
/// </summary>
internal sealed class TimerHeap
{
    private long[] _key = new long[64];
    private int[] _group = new int[64];
    private int[] _generation = new int[64];

    public int Count { get; private set; }

    public long MinKey => _key[0];

    public void Push(long key, int group, int generation)
    {
        if (Count == _key.Length)
        {
            System.Array.Resize(ref _key, Count * 2);
            System.Array.Resize(ref _group, Count * 2);
            System.Array.Resize(ref _generation, Count * 2);
        }
        var i = Count++;
        while (i > 0)
        {
            var parent = (i - 1) >> 1;
            if (_key[parent] <= key) break;
            Move(parent, i);
            i = parent;
        }
        _key[i] = key;
        _group[i] = group;
        _generation[i] = generation;
    }

    public void Pop(out long key, out int group, out int generation)
    {
        key = _key[0];
        group = _group[0];
        generation = _generation[0];
        var last = --Count;
        if (last == 0) return;
        var k = _key[last];
        var i = 0;
        while (true)
        {
            var child = 2 * i + 1;
            if (child >= last) break;
            if (child + 1 < last && _key[child + 1] < _key[child]) child++;
            if (_key[child] >= k) break;
            Move(child, i);
            i = child;
        }
        _key[i] = k;
        _group[i] = _group[last];
        _generation[i] = _generation[last];
    }

    private void Move(int from, int to)
    {
        _key[to] = _key[from];
        _group[to] = _group[from];
        _generation[to] = _generation[from];
    }
}
