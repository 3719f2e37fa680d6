using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AiEtl.Engine.Memory;

/// <summary>
/// A 64-byte aligned block of native memory handed out by <see cref="BufferPool"/>. Exposed to Arrow
/// through <see cref="Memory"/>, which does not own it: the batch that holds the buffer returns it to the
/// pool when the batch is disposed.
/// </summary>
public sealed unsafe class NativeBuffer : MemoryManager<byte>
{
    private byte* _ptr;

    internal NativeBuffer(int capacity, int sizeClass)
    {
        Capacity = capacity;
        SizeClass = sizeClass;
        _ptr = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(capacity, 64), 64);
    }

    /// <summary>Usable bytes.</summary>
    public int Capacity { get; }

    internal int SizeClass { get; }

    internal bool InPool;

    /// <summary>Counts the rentals of this buffer (the pool bumps it on every rent).</summary>
    internal int Rental;

    /// <summary>Arrow arrays last built over this buffer, one per column kind (see <see cref="ArrowReuse"/>).</summary>
    internal WrapperSlot[]? Wrappers;

    internal struct WrapperSlot
    {
        public Apache.Arrow.IArrowArray? Array;
        public int Rental;
    }

    public byte* Pointer => _ptr;

    public Span<byte> Bytes => new(_ptr, Capacity);

    public Span<T> As<T>() where T : unmanaged => new(_ptr, Capacity / Unsafe.SizeOf<T>());

    public override Span<byte> GetSpan() => new(_ptr, Capacity);

    public override MemoryHandle Pin(int elementIndex = 0) => new(_ptr + elementIndex);

    public override void Unpin()
    {
    }

    /// <summary>Frees the memory itself; only the pool calls this (when trimming).</summary>
    internal void Free()
    {
        if (_ptr != null)
        {
            NativeMemory.AlignedFree(_ptr);
            _ptr = null;
        }
    }

    protected override void Dispose(bool disposing)
    {
        // Ownership is explicit (pool rent/return); disposing the Memory wrapper does nothing.
    }
}
