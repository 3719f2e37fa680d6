using AiEtl.Engine.Columns;
using AiEtl.Engine.Memory;
using Apache.Arrow;

namespace AiEtl.Engine.Kernels;

/// <summary>Collects the pooled buffers of a batch under construction and wraps them as Arrow arrays.</summary>
public sealed class BatchAssembler
{
    private readonly BufferPool _pool;
    private readonly List<NativeBuffer> _owned = new(16);
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
        var vb = nullCount > 0 && validity != null ? new ArrowBuffer(validity.Memory[..((length + 7) / 8)]) : ArrowBuffer.Empty;
        var data = new ArrayData(ColumnTypes.ToArrow(kind), length, nullCount, 0, [vb, new ArrowBuffer(values.Memory[..width])]);
        return ArrowArrayFactory.BuildArray(data);
    }

    public IArrowArray String(int length, NativeBuffer offsets, NativeBuffer bytes, int byteLength, NativeBuffer? validity, int nullCount)
    {
        _bytes += (length + 1) * 4L + byteLength + (validity != null ? (length + 7) / 8 : 0);
        var vb = nullCount > 0 && validity != null ? new ArrowBuffer(validity.Memory[..((length + 7) / 8)]) : ArrowBuffer.Empty;
        var data = new ArrayData(ColumnTypes.ToArrow(ColumnKind.String), length, nullCount, 0,
            [vb, new ArrowBuffer(offsets.Memory[..((length + 1) * 4)]), new ArrowBuffer(bytes.Memory[..byteLength])]);
        return ArrowArrayFactory.BuildArray(data);
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
        var batch = new Batch(new RecordBatch(schema, columns, length), _pool, [.. _owned], _owned.Count, _bytes);
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
