using AiEtl.Engine.Columns;
using AiEtl.Engine.Memory;
using Apache.Arrow;

namespace AiEtl.Engine.Kernels;

/// <summary>Collects the pooled buffers of a batch under construction and wraps them as Arrow arrays.</summary>
public sealed class BatchAssembler
{
    private readonly BufferPool _pool;
    private readonly List<NativeBuffer> _owned = new(16);
    private readonly BatchShells _shells = new();
    private long _bytes;

    public BatchAssembler(BufferPool? pool = null) => _pool = pool ?? BufferPool.Shared;

    public BufferPool Pool => _pool;

    public NativeBuffer Rent(int bytes)
    {
        var b = _pool.Rent(bytes);
        _owned.Add(b);
        return b;
    }

    public IArrowArray Fixed(ColumnKind kind, int length, NativeBuffer values, NativeBuffer? validity, int nullCount)
    {
        var width = kind == ColumnKind.Bool ? (length + 7) / 8 : length * ColumnTypes.FixedWidth(kind);
        _bytes += width + (validity != null ? (length + 7) / 8 : 0);
        return ArrowReuse.Fixed(kind, length, values, width, validity, nullCount);
    }

    public IArrowArray String(int length, NativeBuffer offsets, NativeBuffer bytes, int byteLength, NativeBuffer? validity, int nullCount)
    {
        _bytes += (length + 1) * 4L + byteLength + (validity != null ? (length + 7) / 8 : 0);
        return ArrowReuse.String(length, offsets, bytes, byteLength, validity, nullCount);
    }

    /// <summary>Takes ownership of a buffer rented elsewhere (it is returned with the batch).</summary>
    public void Adopt(NativeBuffer buffer) => _owned.Add(buffer);

    /// <summary>Counts bytes of a column borrowed from another batch (for channel accounting).</summary>
    public void AddBorrowed(IArrowArray array)
    {
        foreach (var b in array.Data.Buffers) _bytes += b.Length;
    }

    public Batch Build(Schema schema, IArrowArray[] columns, int length)
    {
        // Objects reused from batches already disposed (see ArrowReuse): no managed garbage per batch.
        var shell = _shells.Rent(_owned.Count);
        _owned.CopyTo(shell.Buffers);
        shell.Data = ArrowReuse.RecordBatch(shell.Data, schema, columns, length);
        var batch = new Batch(shell, _pool, _owned.Count, _bytes);
        _owned.Clear();
        _bytes = 0;
        return batch;
    }

    /// <summary>Returns everything rented so far (error path).</summary>
    public void Abandon()
    {
        foreach (var b in _owned) _pool.Return(b);
        _owned.Clear();
        _bytes = 0;
    }
}
