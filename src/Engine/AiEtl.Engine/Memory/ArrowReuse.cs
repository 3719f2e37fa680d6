using System.Runtime.CompilerServices;
using System.Text;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Memory;

/// <summary>
/// Reuses the Arrow objects that wrap pooled memory instead of allocating new ones for every batch
/// (an <see cref="ArrayData"/>, its buffer array and the typed array per column; the <see cref="RecordBatch"/>
/// with its column list per batch: ~4.7 KB of managed garbage per 8192-row batch through generator → filter →
/// sink before). Without reuse a pipeline under backpressure allocates too little to trigger a gen0 collection
/// for minutes, so every byte stays resident and RSS creeps up.
/// </summary>
/// <remarks>
/// <para>The rules follow the ownership of the pooled memory. A column's array is cached on its values buffer
/// together with the buffer's rental (<see cref="NativeBuffer.Rental"/>): it is refilled only when the buffer is
/// wrapped again in a <em>later</em> rental, i.e. after the batch that held it was disposed by every owner and
/// gave the buffer back — exactly when reusing the memory itself is already allowed. A buffer wrapped twice in
/// one rental gets a fresh array. A <see cref="RecordBatch"/> comes back through <see cref="BatchShells"/> when
/// its <see cref="Batch"/> is disposed for the last time.</para>
/// <para>Arrow's <see cref="ArrayData.Length"/> and <see cref="RecordBatch.Length"/> are read-only, so refilling
/// writes them through <see cref="UnsafeAccessorAttribute"/> / <c>Unsafe.AsRef</c>. The layout
/// this needs is checked once (<see cref="Supported"/>); if a different Apache.Arrow version lacks it, every
/// batch simply gets new objects as before.</para>
/// </remarks>
public static class ArrowReuse
{
    private const int Kinds = (int)ColumnKind.Date + 1;

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "<Length>k__BackingField")]
    private static extern ref int RecordBatchLength(RecordBatch batch);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_arrays")]
    private static extern ref List<IArrowArray> RecordBatchArrays(RecordBatch batch);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "materializedStringStore")]
    private static extern ref Dictionary<Encoding, string[]>? MaterializedStrings(StringArray array);

    /// <summary>True when this Apache.Arrow build has the fields reuse writes (checked once on a probe batch).</summary>
    public static bool Supported { get; } = Probe();

    private static bool Reusing => Supported;

    private static bool Probe()
    {
        try
        {
            var col = new Int64Array.Builder().Append(1).Append(2).Build();
            var schema = new Schema.Builder().Field(new Field("x", col.Data.DataType, false)).Build();
            var rb = new RecordBatch(schema, [col], 2);
            var strings = new StringArray.Builder().Append("a").Build();
            _ = MaterializedStrings(strings);
            var list = RecordBatchArrays(rb);
            if (list is not { Count: 1 } || !ReferenceEquals(list[0], col)) return false;
            RecordBatchLength(rb) = 1;
            Unsafe.AsRef(in col.Data.Length) = 1;
            return rb.Length == 1 && col.Length == 1 && rb.Column(0).Length == 1;
        }
        catch (MissingFieldException)
        {
            return false;
        }
    }

    /// <summary>A fixed-width (or bit-packed boolean) array over pooled buffers; reuses the wrapper cached on <paramref name="values"/>.</summary>
    public static IArrowArray Fixed(ColumnKind kind, int length, NativeBuffer values, int valueBytes, NativeBuffer? validity, int nullCount)
    {
        ArgumentNullException.ThrowIfNull(values);
        var vb = nullCount > 0 && validity != null ? new ArrowBuffer(validity.Memory[..((length + 7) / 8)]) : ArrowBuffer.Empty;
        var vals = new ArrowBuffer(values.Memory[..valueBytes]);
        if (Reusing && TakeCached(values, kind) is { } cached)
        {
            var d = cached.Data;
            Unsafe.AsRef(in d.Length) = length;
            d.NullCount = nullCount;
            d.Buffers[0] = vb;
            d.Buffers[1] = vals;
            return cached;
        }
        var array = ArrowArrayFactory.BuildArray(new ArrayData(ColumnTypes.ToArrow(kind), length, nullCount, 0, [vb, vals]));
        Cache(values, kind, array);
        return array;
    }

    /// <summary>A string array over pooled buffers; reuses the wrapper cached on <paramref name="offsets"/>.</summary>
    public static IArrowArray String(int length, NativeBuffer offsets, NativeBuffer bytes, int byteLength, NativeBuffer? validity, int nullCount)
    {
        ArgumentNullException.ThrowIfNull(offsets);
        ArgumentNullException.ThrowIfNull(bytes);
        var vb = nullCount > 0 && validity != null ? new ArrowBuffer(validity.Memory[..((length + 7) / 8)]) : ArrowBuffer.Empty;
        var ob = new ArrowBuffer(offsets.Memory[..((length + 1) * 4)]);
        var db = new ArrowBuffer(bytes.Memory[..byteLength]);
        if (Reusing && TakeCached(offsets, ColumnKind.String) is StringArray cached && MaterializedStrings(cached) == null)
        {
            var d = cached.Data;
            Unsafe.AsRef(in d.Length) = length;
            d.NullCount = nullCount;
            d.Buffers[0] = vb;
            d.Buffers[1] = ob;
            d.Buffers[2] = db;
            return cached;
        }
        var array = ArrowArrayFactory.BuildArray(new ArrayData(ColumnTypes.ToArrow(ColumnKind.String), length, nullCount, 0, [vb, ob, db]));
        Cache(offsets, ColumnKind.String, array);
        return array;
    }

    /// <summary>
    /// A record batch of <paramref name="columns"/>: the shell's previous one refilled when it has the same schema
    /// and column count, else a new one. <paramref name="columns"/> is copied, so the caller may reuse it.
    /// </summary>
    public static RecordBatch RecordBatch(RecordBatch? previous, Schema schema, IArrowArray[] columns, int length)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (Reusing && previous != null && ReferenceEquals(previous.Schema, schema))
        {
            var list = RecordBatchArrays(previous);
            if (list.Count == columns.Length)
            {
                for (var i = 0; i < columns.Length; i++) list[i] = columns[i];
                RecordBatchLength(previous) = length;
                return previous;
            }
        }
        return new RecordBatch(schema, columns, length);
    }

    /// <summary>The wrapper of a previous rental of <paramref name="buffer"/> as a <paramref name="kind"/> column, if any.</summary>
    private static IArrowArray? TakeCached(NativeBuffer buffer, ColumnKind kind)
    {
        var slots = buffer.Wrappers;
        if (slots == null) return null;
        ref var slot = ref slots[(int)kind];
        // Wrapped already in this rental: that array may still be live — never refill it.
        if (slot.Array == null || slot.Rental == buffer.Rental) return null;
        slot.Rental = buffer.Rental;
        return slot.Array;
    }

    private static void Cache(NativeBuffer buffer, ColumnKind kind, IArrowArray array)
    {
        if (!Reusing) return;
        var slots = buffer.Wrappers ??= new NativeBuffer.WrapperSlot[Kinds];
        ref var slot = ref slots[(int)kind];
        // Keep the first wrapper of a rental; a second one over the same buffer stays uncached.
        if (slot.Array != null && slot.Rental == buffer.Rental) return;
        slot.Array = array;
        slot.Rental = buffer.Rental;
    }
}

/// <summary>
/// The batch objects one producer (a <see cref="Columns.BatchBuilder"/> or <see cref="Kernels.BatchAssembler"/>)
/// hands out, taken back when each batch is disposed for the last time: its <see cref="RecordBatch"/> and the
/// array of pooled buffers. The <see cref="Batch"/> object itself stays new per batch (small; and a stale second
/// dispose still throws instead of releasing someone else's batch). Thread-safe: batches are disposed on other tasks.
/// </summary>
public sealed class BatchShells(int maxKept = 256)
{
    private readonly Stack<Shell> _free = new();
    private readonly Lock _lock = new();

    internal Shell Rent(int bufferCount)
    {
        Shell? s = null;
        lock (_lock)
        {
            if (_free.Count > 0) s = _free.Pop();
        }
        s ??= new Shell(this);
        if (s.Buffers.Length < bufferCount) s.Buffers = new NativeBuffer[Math.Max(bufferCount, 4)];
        return s;
    }

    private void Return(Shell shell)
    {
        lock (_lock)
        {
            if (_free.Count < maxKept) _free.Push(shell);
        }
    }

    internal sealed class Shell(BatchShells owner)
    {
        public RecordBatch? Data;
        public NativeBuffer[] Buffers = [];

        public void Recycle(int bufferCount)
        {
            System.Array.Clear(Buffers, 0, bufferCount);
            owner.Return(this);
        }
    }
}
