using AiEtl.Engine.Operators.Aggregation;

namespace AiEtl.Engine.Tests.Windows;

public sealed class HyperLogLogTests
{
    private static HyperLogLog Sketch(long from, long count)
    {
        var h = new HyperLogLog();
        for (var v = from; v < from + count; v++) h.Add(HyperLogLog.HashLong(v));
        return h;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1_000)]
    [InlineData(1_024)]
    public void Small_sets_are_counted_exactly(int n)
    {
        var h = Sketch(0, n);
        Assert.False(h.IsDense);
        Assert.Equal(n, h.Estimate());
        h.Add(HyperLogLog.HashLong(0)); // duplicates do not count
        Assert.Equal(Math.Max(n, 1), h.Estimate());
    }

    [Theory]
    [InlineData(1_025)]
    [InlineData(3_000)]
    [InlineData(20_000)]
    [InlineData(80_000)]
    [InlineData(300_000)]
    [InlineData(1_500_000)]
    public void Large_sets_are_estimated_within_four_standard_errors(int n)
    {
        var h = Sketch(1_000_000_000, n);
        Assert.True(h.IsDense);
        // Standard error 1.04 / sqrt(16384) ≈ 0.81%; far below it while most registers are still empty.
        Assert.InRange(h.Estimate(), n * (1 - 4 * 0.0081), n * (1 + 4 * 0.0081));
    }

    [Fact]
    public void Merging_gives_the_estimate_of_the_union_in_every_representation()
    {
        var denseA = Sketch(0, 60_000);
        var denseB = Sketch(40_000, 60_000);
        var union = Sketch(0, 100_000);
        denseA.Merge(denseB);
        Assert.Equal(union.Estimate(), denseA.Estimate());

        var sparse = Sketch(99_500, 1_000);          // 500 new values
        denseA.Merge(sparse);
        Assert.Equal(Sketch(0, 100_500).Estimate(), denseA.Estimate());

        var small = Sketch(0, 10);
        small.Merge(Sketch(5, 10));
        Assert.False(small.IsDense);
        Assert.Equal(15, small.Estimate());

        var grows = Sketch(0, 900);
        grows.Merge(Sketch(900, 900));                // crosses the sparse limit
        Assert.True(grows.IsDense);
        Assert.Equal(Sketch(0, 1_800).Estimate(), grows.Estimate());

        var sparseIntoDense = Sketch(0, 100);
        sparseIntoDense.Merge(Sketch(0, 50_000));
        Assert.Equal(Sketch(0, 50_000).Estimate(), sparseIntoDense.Estimate());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(700)]
    [InlineData(250_000)]
    public void A_sketch_written_and_read_back_is_the_same(int n)
    {
        var h = Sketch(7, n);
        h.Add(0); // the hash value 0 is kept apart in sparse form
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) h.Write(w);
        ms.Position = 0;
        using var r = new BinaryReader(ms);
        var back = HyperLogLog.Read(r);
        Assert.Equal(h.IsDense, back.IsDense);
        Assert.Equal(h.Estimate(), back.Estimate());
        back.Add(HyperLogLog.HashLong(-1));
        h.Add(HyperLogLog.HashLong(-1));
        Assert.Equal(h.Estimate(), back.Estimate());
    }
}
