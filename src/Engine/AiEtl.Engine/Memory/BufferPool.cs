using System.Numerics;
using System.Threading;

namespace AiEtl.Engine.Memory;

/// <summary>
/// Pool of aligned native buffers in power-of-two size classes. Batches on the hot path take their
/// column buffers from here and give them back when disposed, so steady state allocates nothing per row.
/// </summary>
public sealed class BufferPool
{
    private const int MinShift = 6;   // 64 B
    private const int MaxShift = 30;  // 1 GiB
    private readonly Stack<NativeBuffer>[] _free = new Stack<NativeBuffer>[MaxShift + 1];
    private readonly int _maxPerClass;
    private long _rentedBytes;
    private long _pooledBytes;

    public BufferPool(int maxPerClass = 256)
    {
        _maxPerClass = maxPerClass;
        for (var i = 0; i < _free.Length; i++) _free[i] = new Stack<NativeBuffer>();
    }

    /// <summary>The process-wide pool.</summary>
    public static BufferPool Shared { get; } = new();

    public long RentedBytes => Interlocked.Read(ref _rentedBytes);
    public long PooledBytes => Interlocked.Read(ref _pooledBytes);

    /// <summary>Rents a buffer of at least <paramref name="minBytes"/> bytes (contents undefined).</summary>
    public NativeBuffer Rent(int minBytes)
    {
        var shift = Math.Max(MinShift, 32 - BitOperations.LeadingZeroCount((uint)Math.Max(minBytes - 1, 1)));
        if (shift > MaxShift) throw new ArgumentOutOfRangeException(nameof(minBytes), minBytes, "buffer larger than 1 GiB");
        var stack = _free[shift];
        NativeBuffer? buf = null;
        lock (stack)
        {
            if (stack.Count > 0) buf = stack.Pop();
        }
        if (buf != null)
        {
            buf.InPool = false;
            Interlocked.Add(ref _pooledBytes, -buf.Capacity);
        }
        else
        {
            buf = new NativeBuffer(1 << shift, shift);
        }
        buf.Rental++;
        Interlocked.Add(ref _rentedBytes, buf.Capacity);
        return buf;
    }

    /// <summary>Gives a buffer back. Returning the same buffer twice is a bug and throws.</summary>
    public void Return(NativeBuffer buffer)
    {
        if (buffer.InPool) throw new InvalidOperationException("buffer returned to the pool twice");
        buffer.InPool = true;
        Interlocked.Add(ref _rentedBytes, -buffer.Capacity);
        var stack = _free[buffer.SizeClass];
        lock (stack)
        {
            if (stack.Count < _maxPerClass)
            {
                stack.Push(buffer);
                Interlocked.Add(ref _pooledBytes, buffer.Capacity);
                return;
            }
        }
        buffer.Free();
    }
}
