using AiEtl.Engine.Kernels;

namespace AiEtl.Engine.Tests.Kernels;

public sealed class ArithKernelTests
{
    private static readonly ArithOp[] Ops = [ArithOp.Add, ArithOp.Sub, ArithOp.Mul, ArithOp.Div, ArithOp.Rem];

    private static int[] Selection(Random rnd, int rows, int n) =>
        [.. Enumerable.Range(0, rows).Where(_ => rnd.Next(3) > 0).Take(n)];

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(333)]
    public void Fused_float64_gather_arithmetic_equals_gather_then_compute(int n)
    {
        var rnd = new Random(n);
        var rows = n * 2 + 3;
        var a = Enumerable.Range(0, rows).Select(_ => rnd.Next(1, 400) * (rnd.Next(2) * 2 - 1) * 0.25).ToArray();
        var b = Enumerable.Range(0, rows).Select(_ => (long)rnd.Next(1, 20) * (rnd.Next(2) * 2 - 1)).ToArray();
        var c = Enumerable.Range(0, rows).Select(_ => rnd.Next(1, 9)).ToArray();
        var sel = Selection(rnd, rows, n);
        foreach (var op in Ops)
        {
            var r = new double[sel.Length];
            Assert.True(ArithKernels.Float64<double, long>(op, a, b, sel, dense: false, r));
            var r2 = new double[sel.Length];
            Assert.True(ArithKernels.Float64<int, double>(op, c, a, sel, dense: false, r2));
            for (var j = 0; j < sel.Length; j++)
            {
                Assert.Equal(Apply(op, a[sel[j]], b[sel[j]]), r[j]);
                Assert.Equal(Apply(op, c[sel[j]], a[sel[j]]), r2[j]);
            }
        }
    }

    private static double Apply(ArithOp op, double x, double y) => op switch
    {
        ArithOp.Add => x + y,
        ArithOp.Sub => x - y,
        ArithOp.Mul => x * y,
        ArithOp.Div => x / y,
        _ => x % y,
    };

    [Fact]
    public void Float64_reports_non_finite_results_for_the_exact_path()
    {
        double[] a = [1e308, 1.0, 2.0];
        double[] b = [10.0, 0.0, 1.0];
        var r = new double[2];
        Assert.False(ArithKernels.Float64<double, double>(ArithOp.Mul, a, b, [0, 2], dense: false, r));
        Assert.True(ArithKernels.Float64<double, double>(ArithOp.Mul, a, b, [1, 2], dense: false, r));
        Assert.False(ArithKernels.Float64<double, double>(ArithOp.Div, a, b, [1], dense: false, r));
        Assert.False(ArithKernels.Float64<double, double>(ArithOp.Rem, a, b, [2, 1], dense: false, r));
    }

    [Theory]
    [InlineData(ArithOp.Add, long.MaxValue, 1L)]
    [InlineData(ArithOp.Sub, long.MinValue, 1L)]
    [InlineData(ArithOp.Mul, 3_037_000_500L, 3_037_000_500L)]
    [InlineData(ArithOp.Mul, long.MinValue, -1L)]
    [InlineData(ArithOp.Div, 5L, 0L)]
    [InlineData(ArithOp.Div, long.MinValue, -1L)]
    [InlineData(ArithOp.Rem, 5L, 0L)]
    public void Int64_reports_overflow_and_zero_divisors(ArithOp op, long x, long y)
    {
        long[] a = [1, x, 7];
        long[] b = [1, y, 3];
        var r = new long[3];
        Assert.False(ArithKernels.Int64<long, long>(op, a, b, default, dense: true, r));
        Assert.False(ArithKernels.Int64<long, long>(op, a, b, [2, 1], dense: false, r));
        Assert.True(ArithKernels.Int64<long, long>(op, a, b, [0, 2, 0], dense: false, r));
    }

    [Fact]
    public void Int64_remainder_of_min_by_minus_one_is_zero_not_an_error()
    {
        var r = new long[1];
        Assert.True(ArithKernels.Int64<long, long>(ArithOp.Rem, [long.MinValue], [-1L], default, dense: true, r));
        Assert.Equal(0, r[0]);
    }

    [Fact]
    public void Int64_results_match_checked_arithmetic_and_widen_int32_operands()
    {
        var rnd = new Random(9);
        const int rows = 501;
        var a = Enumerable.Range(0, rows).Select(_ => (long)rnd.Next(-1_000_000, 1_000_000) * rnd.Next(1, 1000)).ToArray();
        var b = Enumerable.Range(0, rows).Select(_ => rnd.Next(-50_000, 50_000) | 1).ToArray();
        var sel = Selection(rnd, rows, 250);
        foreach (var op in Ops)
        {
            var r = new long[sel.Length];
            Assert.True(ArithKernels.Int64<long, int>(op, a, b, sel, dense: false, r));
            for (var j = 0; j < sel.Length; j++)
            {
                long x = a[sel[j]], y = b[sel[j]];
                var expected = op switch
                {
                    ArithOp.Add => checked(x + y),
                    ArithOp.Sub => checked(x - y),
                    ArithOp.Mul => checked(x * y),
                    ArithOp.Div => x / y,
                    _ => x % y,
                };
                Assert.Equal(expected, r[j]);
            }
        }
    }

    [Theory]
    [InlineData(ArithOp.Add, int.MaxValue, 1)]
    [InlineData(ArithOp.Sub, int.MinValue, 1)]
    [InlineData(ArithOp.Mul, 65_536, 65_536)]
    [InlineData(ArithOp.Div, int.MinValue, -1)]
    [InlineData(ArithOp.Div, 1, 0)]
    [InlineData(ArithOp.Rem, 1, 0)]
    public void Int32_reports_results_outside_int32_and_zero_divisors(ArithOp op, int x, int y)
    {
        var r = new int[2];
        Assert.False(ArithKernels.Int32(op, [3, x], [2, y], [1, 0], dense: false, r));
        Assert.True(ArithKernels.Int32(op, [3, x], [2, y], [0, 0], dense: false, r));
        Assert.Equal(op switch { ArithOp.Add => 5, ArithOp.Sub => 1, ArithOp.Mul => 6, ArithOp.Div => 1, _ => 1 }, r[0]);
    }

    [Fact]
    public void All_finite_finds_a_non_finite_value_anywhere()
    {
        Assert.True(ArithKernels.AllFinite([]));
        foreach (var n in new[] { 1, 3, 4, 7, 8, 9, 31, 64, 100 })
        {
            var v = Enumerable.Range(0, n).Select(i => i * -1.5e300).ToArray();
            Assert.True(ArithKernels.AllFinite(v));
            foreach (var bad in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity })
            {
                for (var at = 0; at < n; at++)
                {
                    var w = (double[])v.Clone();
                    w[at] = bad;
                    Assert.False(ArithKernels.AllFinite(w));
                    Assert.False(ArithKernels.Float64<double, double>(ArithOp.Add, w, v, default, dense: true, new double[n]));
                }
            }
        }
    }

    [Fact]
    public void Selection_indexes_outside_the_operands_throw()
    {
        var r = new double[2];
        Assert.Throws<IndexOutOfRangeException>(() => ArithKernels.Float64<double, double>(ArithOp.Add, [1.0, 2.0], [1.0, 2.0], [0, 2], dense: false, r));
        Assert.Throws<ArgumentException>(() => ArithKernels.Float64<double, double>(ArithOp.Add, [1.0], [1.0, 2.0], default, dense: true, r));
    }

    [Fact]
    public unsafe void Gather_checks_indexes_and_copies_selected_values()
    {
        long[] src = [10, 11, 12, 13, 14, 15, 16];
        int[] sel = [6, 0, 3, 3, 5];
        var dst = new long[sel.Length];
        fixed (long* p = dst) Gather.GatherFixed<long>(src, sel, p);
        Assert.Equal([16L, 10L, 13L, 13L, 15L], dst);
        Assert.Throws<IndexOutOfRangeException>(() =>
        {
            fixed (long* p = dst) Gather.GatherFixed<long>(src, [1, 2, 3, 7], p);
        });
    }
}
