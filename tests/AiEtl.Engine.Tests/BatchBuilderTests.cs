using AiEtl.Engine.Columns;
using AiEtl.Engine.Memory;
using Apache.Arrow;

namespace AiEtl.Engine.Tests;

public sealed class BatchBuilderTests
{
    private static Schema Schema() => new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64))
        .Field(ColumnTypes.Field("name", ColumnKind.String))
        .Field(ColumnTypes.Field("ok", ColumnKind.Bool))
        .Field(ColumnTypes.Field("x", ColumnKind.Float64))
        .Build();

    [Fact]
    public void Built_batch_reads_back_values_and_nulls_after_growing()
    {
        var pool = new BufferPool();
        using var b = new BatchBuilder(Schema(), capacity: 16, pool);
        for (var i = 0; i < 1000; i++)
        {
            b[0].AppendInt64(i);
            if (i % 7 == 0) b[1].AppendNull(); else b[1].AppendString($"n{i}é");
            b[2].AppendBool(i % 2 == 0);
            if (i % 5 == 0) b[3].AppendNull(); else b[3].AppendDouble(i * 0.5);
        }
        using var batch = b.Build();
        Assert.Equal(1000, batch.Length);
        var ids = (Int64Array)batch.Column(0);
        var names = (StringArray)batch.Column(1);
        var oks = (BooleanArray)batch.Column(2);
        var xs = (DoubleArray)batch.Column(3);
        Assert.Equal(143, names.NullCount);
        Assert.Equal(200, xs.NullCount);
        for (var i = 0; i < 1000; i++)
        {
            Assert.Equal(i, ids.GetValue(i));
            Assert.Equal(i % 7 == 0 ? null : $"n{i}é", names.GetString(i));
            Assert.Equal(i % 2 == 0, oks.GetValue(i));
            Assert.Equal(i % 5 == 0 ? null : i * 0.5, xs.GetValue(i));
        }
    }

    [Fact]
    public void Truncate_undoes_a_partly_written_row()
    {
        using var b = new BatchBuilder(Schema(), capacity: 8, new BufferPool());
        b[0].AppendInt64(1); b[1].AppendString("keep"); b[2].AppendBool(true); b[3].AppendDouble(1);
        b[0].AppendInt64(2); b[1].AppendNull();
        b.Truncate(1);
        b[0].AppendInt64(3); b[1].AppendString("x"); b[2].AppendBool(false); b[3].AppendDouble(3);
        using var batch = b.Build();
        Assert.Equal(2, batch.Length);
        Assert.Equal(0, batch.Column(1).NullCount);
        Assert.Equal("x", ((StringArray)batch.Column(1)).GetString(1));
        Assert.Equal(3L, ((Int64Array)batch.Column(0)).GetValue(1));
    }

    [Fact]
    public void Disposing_a_batch_returns_its_buffers_to_the_pool()
    {
        var pool = new BufferPool();
        using var b = new BatchBuilder(Schema(), capacity: 64, pool);
        var before = pool.RentedBytes;
        b[0].AppendInt64(1); b[1].AppendString("a"); b[2].AppendBool(true); b[3].AppendDouble(1);
        var batch = b.Build();
        Assert.True(pool.RentedBytes > before);
        var shared = batch.Retain();
        batch.Dispose();
        Assert.True(pool.RentedBytes > before);
        shared.Dispose();
        Assert.Equal(before, pool.RentedBytes);
        Assert.Throws<InvalidOperationException>(() => shared.Dispose());
    }
}
