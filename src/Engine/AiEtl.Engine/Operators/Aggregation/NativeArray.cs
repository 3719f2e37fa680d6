using System.Runtime.CompilerServices;
using AiEtl.Engine.Memory;

namespace AiEtl.Engine.Operators.Aggregation;

/// <summary>
/// A growable array of unmanaged values in pooled native memory (per-group aggregation state). Hot loops
/// read <see cref="P"/> into a local and index it directly; growing replaces the pointer, so callers must
/// not keep it across a call that may grow. Native memory keeps large state off the GC heap (no gen-2
/// collections, no LOH churn) and goes back to <see cref="BufferPool"/> on <see cref="Dispose"/>.
/// </summary>
internal sealed unsafe class NativeArray<T> : IDisposable where T : unmanaged
{
    private readonly BufferPool _pool;
    private NativeBuffer? _buffer;

    public NativeArray(int capacity, BufferPool? pool = null)
    {
        _pool = pool ?? BufferPool.Shared;
        Allocate(Math.Max(capacity, 16), copy: 0);
    }

    /// <summary>First element; valid until the next <see cref="EnsureCapacity"/> that grows.</summary>
    public T* P;

    /// <summary>Elements that fit without growing.</summary>
    public int Capacity { get; private set; }

    /// <summary>Bytes held.</summary>
    public long Bytes => _buffer?.Capacity ?? 0;

    /// <summary>Grows (doubling, contents kept) so that index <paramref name="count"/> - 1 is valid.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void EnsureCapacity(int count)
    {
        if (count > Capacity) Grow(count);
    }

    private void Grow(int count)
    {
        var cap = (long)Capacity;
        while (cap < count) cap *= 2;
        if (cap * sizeof(T) > 1L << 30) throw new InvalidOperationException($"aggregation state exceeds 1 GiB in one array ({count:N0} entries)");
        Allocate((int)cap, Capacity);
    }

    private void Allocate(int capacity, int copy)
    {
        var next = _pool.Rent(capacity * sizeof(T));
        if (_buffer != null)
        {
            Buffer.MemoryCopy(_buffer.Pointer, next.Pointer, next.Capacity, (long)copy * sizeof(T));
            _pool.Return(_buffer);
        }
        _buffer = next;
        P = (T*)next.Pointer;
        Capacity = next.Capacity / sizeof(T);
    }

    /// <summary>Sets <paramref name="count"/> elements from <paramref name="start"/> to <paramref name="value"/>.</summary>
    public void Fill(int start, int count, T value) => new Span<T>(P + start, count).Fill(value);

    public void Dispose()
    {
        if (_buffer == null) return;
        _pool.Return(_buffer);
        _buffer = null;
        P = null;
        Capacity = 0;
    }
}
