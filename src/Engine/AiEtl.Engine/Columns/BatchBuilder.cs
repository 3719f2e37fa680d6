using AiEtl.Engine.Memory;
using Apache.Arrow;

namespace AiEtl.Engine.Columns;

/// <summary>Builds batches of a fixed schema row by row into pooled column buffers.</summary>
public sealed class BatchBuilder : IDisposable
{
    private readonly ColumnBuilder[] _columns;
    private readonly BufferPool _pool;
    private readonly List<NativeBuffer> _owned = new(32);
    private readonly BatchShells _shells = new();
    private readonly IArrowArray[] _arrays;

    public BatchBuilder(Schema schema, int capacity = 8192, BufferPool? pool = null)
    {
        Schema = schema;
        _pool = pool ?? BufferPool.Shared;
        _columns = new ColumnBuilder[schema.FieldsList.Count];
        _arrays = new IArrowArray[_columns.Length];
        for (var i = 0; i < _columns.Length; i++)
            _columns[i] = new ColumnBuilder(ColumnTypes.FromArrow(schema.FieldsList[i].DataType), capacity, _pool);
    }

    public Schema Schema { get; }
    public ColumnBuilder this[int i] => _columns[i];
    public int ColumnCount => _columns.Length;

    /// <summary>Rows appended so far (every column has this length between rows).</summary>
    public int Length => _columns.Length == 0 ? _rowsNoColumns : _columns[0].Length;

    private int _rowsNoColumns;

    public long ByteSize
    {
        get
        {
            long b = 0;
            foreach (var c in _columns) b += c.ByteSize;
            return b;
        }
    }

    /// <summary>Undoes a partly appended row: every column is cut back to <paramref name="rows"/>.</summary>
    public void Truncate(int rows)
    {
        foreach (var c in _columns) c.Truncate(rows);
    }

    /// <summary>For zero-column schemas: counts a row.</summary>
    public void AppendEmptyRow() => _rowsNoColumns++;

    public Batch Build()
    {
        var n = Length;
        var arrays = _arrays;
        _owned.Clear();
        long bytes = 0;
        for (var i = 0; i < _columns.Length; i++)
        {
            bytes += _columns[i].ByteSize;
            arrays[i] = _columns[i].Build(_owned);
        }
        _rowsNoColumns = 0;
        // Objects reused from batches already disposed (see ArrowReuse): no managed garbage per batch.
        var shell = _shells.Rent(_owned.Count);
        _owned.CopyTo(shell.Buffers);
        shell.Data = ArrowReuse.RecordBatch(shell.Data, Schema, arrays, n);
        System.Array.Clear(arrays);
        return new Batch(shell, _pool, _owned.Count, bytes);
    }

    public void Dispose()
    {
        foreach (var c in _columns) c.Release();
    }
}
