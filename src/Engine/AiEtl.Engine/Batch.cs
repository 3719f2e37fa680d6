using System.Threading;
using AiEtl.Engine.Memory;
using Apache.Arrow;

namespace AiEtl.Engine;

/// <summary>
/// An Arrow <see cref="RecordBatch"/> together with the pooled memory behind it. Ownership is explicit:
/// whoever holds a batch disposes it once (after <see cref="Retain"/>, once per retain), and the last
/// dispose returns the buffers to their pool and releases the batches it borrowed columns from.
/// </summary>
public sealed class Batch : IDisposable
{
    private NativeBuffer[]? _buffers;
    private readonly int _bufferCount;
    private readonly BufferPool? _pool;
    private BatchShells.Shell? _shell;
    private Batch[]? _parents;
    private int _parentCount;
    private int _refs = 1;

    public Batch(RecordBatch data)
    {
        Data = data;
        ByteSize = EstimateBytes(data);
    }

    internal Batch(RecordBatch data, BufferPool pool, NativeBuffer[] buffers, int bufferCount, long byteSize)
    {
        Data = data;
        _pool = pool;
        _buffers = buffers;
        _bufferCount = bufferCount;
        ByteSize = byteSize;
    }

    /// <summary>A batch in a recycled shell: its record batch and buffer array go back to the shell's owner on the last dispose.</summary>
    internal Batch(BatchShells.Shell shell, BufferPool pool, int bufferCount, long byteSize)
        : this(shell.Data!, pool, shell.Buffers, bufferCount, byteSize) => _shell = shell;

    public RecordBatch Data { get; }
    public Schema Schema => Data.Schema;
    public int Length => Data.Length;

    /// <summary>Approximate bytes of column data (used to bound channels by bytes).</summary>
    public long ByteSize { get; }

    public IArrowArray Column(int i) => Data.Column(i);

    /// <summary>Adds an owner: the batch stays alive until each owner has disposed it.</summary>
    public Batch Retain()
    {
        if (Interlocked.Increment(ref _refs) <= 1) throw new ObjectDisposedException(nameof(Batch));
        return this;
    }

    /// <summary>Keeps <paramref name="parent"/> alive as long as this batch (its columns are shared).</summary>
    public void DependOn(Batch parent)
    {
        _parents ??= new Batch[2];
        if (_parentCount == _parents.Length) System.Array.Resize(ref _parents, _parentCount * 2);
        _parents[_parentCount++] = parent.Retain();
    }

    public void Dispose()
    {
        var left = Interlocked.Decrement(ref _refs);
        if (left > 0) return;
        if (left < 0) throw new InvalidOperationException("batch disposed more times than it was retained");
        if (_buffers != null && _pool != null)
        {
            for (var i = 0; i < _bufferCount; i++) _pool.Return(_buffers[i]);
            _buffers = null;
        }
        if (_parents != null)
        {
            for (var i = 0; i < _parentCount; i++) _parents[i].Dispose();
            _parents = null;
        }
        if (_shell != null)
        {
            _shell.Recycle(_bufferCount);
            _shell = null;
        }
    }

    public static long EstimateBytes(RecordBatch rb)
    {
        long total = 0;
        for (var c = 0; c < rb.ColumnCount; c++)
        {
            var data = rb.Column(c).Data;
            foreach (var b in data.Buffers) total += b.Length;
        }
        return total;
    }
}
