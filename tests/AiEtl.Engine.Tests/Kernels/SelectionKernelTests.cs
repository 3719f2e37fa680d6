using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kernels;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Kernels;

public sealed class SelectionKernelTests
{
    private static readonly CompareOp[] Ops = [CompareOp.Eq, CompareOp.Ne, CompareOp.Lt, CompareOp.Le, CompareOp.Gt, CompareOp.Ge];

    // Around the vector widths (16 / 64 rows) and the 8-bit validity bytes.
    private static readonly int[] Lengths = [0, 1, 7, 8, 15, 16, 17, 31, 63, 64, 65, 127, 130, 1000, 4099];

    /// <summary>Every path the CPU can run (the others quietly fall back to scalar, so they are skipped).</summary>
    public static TheoryData<string> Paths()
    {
        var d = new TheoryData<string> { "Scalar", "Auto" };
        if (Vector256.IsHardwareAccelerated) d.Add("Vector256");
        if (Avx512F.IsSupported) d.Add("Avx512");
        return d;
    }

    private static SelectionKernels.Path P(string name) => Enum.Parse<SelectionKernels.Path>(name);

    /// <summary>SQL semantics, row by row: NULL never passes; float64 in SQL order (NaN = NaN, NaN largest).</summary>
    private static bool Passes<T>(T x, T c, CompareOp op) where T : INumber<T>
    {
        var order = typeof(T) == typeof(double) ? CompareOps.CompareSql(double.CreateTruncating(x), double.CreateTruncating(c)) : x.CompareTo(c);
        return CompareOps.Test(op, order);
    }

    private static List<int> Reference<T>(T[] values, byte[]? validity, int offset, CompareOp op, T c, IEnumerable<int>? rows = null) where T : INumber<T>
    {
        var result = new List<int>();
        foreach (var i in rows ?? Enumerable.Range(0, values.Length))
        {
            var valid = validity == null || (validity[(i + offset) >> 3] & (1 << ((i + offset) & 7))) != 0;
            if (valid && Passes(values[i], c, op)) result.Add(i);
        }
        return result;
    }

    private static byte[] RandomValidity(Random rnd, int bits, double nullRate)
    {
        var v = new byte[(bits + 7) / 8 + 1];
        for (var i = 0; i < bits; i++)
            if (rnd.NextDouble() >= nullRate) v[i >> 3] |= (byte)(1 << (i & 7));
        return v;
    }

    private static int[] Ints(Random rnd, int n) =>
        [.. Enumerable.Range(0, n).Select(_ => rnd.Next(12) switch { 0 => int.MinValue, 1 => int.MaxValue, _ => rnd.Next(-5, 6) })];

    private static long[] Longs(Random rnd, int n) =>
        [.. Enumerable.Range(0, n).Select(_ => rnd.Next(12) switch { 0 => long.MinValue, 1 => long.MaxValue, 2 => 1L << 40, _ => (long)rnd.Next(-5, 6) })];

    private static double[] Doubles(Random rnd, int n) =>
        [.. Enumerable.Range(0, n).Select(_ => rnd.Next(14) switch
        {
            0 => double.NaN,
            1 => double.PositiveInfinity,
            2 => double.NegativeInfinity,
            3 => -0.0,
            4 => 0.0,
            _ => rnd.Next(-5, 6) * 0.5,
        })];

    private static void CheckSelect<T>(string path, T[] values, T[] constants, Random rnd) where T : unmanaged, INumber<T>
    {
        foreach (var (validity, offset) in new (byte[]?, int)[] { (null, 0), (RandomValidity(rnd, values.Length, 0.2), 0), (RandomValidity(rnd, values.Length + 5, 0.3), 5) })
        {
            foreach (var op in Ops)
            {
                foreach (var c in constants)
                {
                    var sel = new int[values.Length];
                    var count = SelectionKernels.Select<T>(values, validity ?? default, offset, op, c, sel, P(path));
                    var expected = Reference(values, validity, offset, op, c);
                    Assert.True(expected.SequenceEqual(sel.Take(count)),
                        $"{typeof(T).Name} {path} n={values.Length} {op} {c} nulls={validity != null} offset={offset}: expected {expected.Count} rows, got {count}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Int32_selection_matches_the_row_by_row_reference(string path)
    {
        var rnd = new Random(1);
        foreach (var n in Lengths) CheckSelect(path, Ints(rnd, n), [0, 3, -1, int.MinValue, int.MaxValue], rnd);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Int64_selection_matches_the_row_by_row_reference(string path)
    {
        var rnd = new Random(2);
        foreach (var n in Lengths) CheckSelect(path, Longs(rnd, n), [0L, 3L, -1L, long.MinValue, long.MaxValue, 1L << 40], rnd);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Float64_selection_follows_sql_order_with_nan_infinities_and_signed_zero(string path)
    {
        var rnd = new Random(3);
        foreach (var n in Lengths) CheckSelect(path, Doubles(rnd, n), [0.0, -0.0, 1.5, double.NaN, double.PositiveInfinity, double.NegativeInfinity], rnd);
    }

    [Fact]
    public void Nan_compares_equal_to_nan_and_above_everything()
    {
        double[] v = [double.NaN, double.PositiveInfinity, 1.0, double.NegativeInfinity];
        var sel = new int[4];
        int Sel(CompareOp op, double c) => SelectionKernels.Select(v, default, 0, op, c, sel);
        Assert.Equal(1, Sel(CompareOp.Eq, double.NaN));
        Assert.Equal(0, sel[0]);
        Assert.Equal(3, Sel(CompareOp.Lt, double.NaN));
        Assert.Equal(4, Sel(CompareOp.Le, double.NaN));
        Assert.Equal(0, Sel(CompareOp.Gt, double.NaN));
        Assert.Equal(1, Sel(CompareOp.Gt, double.PositiveInfinity));
        Assert.Equal(0, sel[0]);
        Assert.Equal(3, Sel(CompareOp.Ge, 1.0));
        Assert.Equal(3, Sel(CompareOp.Ne, 1.0));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void A_null_row_never_passes_whatever_its_value(string path)
    {
        var values = Enumerable.Repeat(7, 100).ToArray();
        var allNull = new byte[13];
        var sel = new int[100];
        foreach (var op in Ops)
            foreach (var c in new[] { 6, 7, 8 })
                Assert.Equal(0, SelectionKernels.Select<int>(values, allNull, 0, op, c, sel, P(path)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Refine_keeps_only_selected_rows_that_also_pass(int type)
    {
        var rnd = new Random(10 + type);
        foreach (var n in Lengths)
        {
            var first = Ints(rnd, n);
            var firstValid = RandomValidity(rnd, n, 0.1);
            foreach (var op in Ops)
            {
                var sel = new int[n];
                var count = SelectionKernels.Select(first, firstValid, 0, CompareOp.Ge, 0, sel);
                var rows = Reference(first, firstValid, 0, CompareOp.Ge, 0);
                var validity = RandomValidity(rnd, n + 3, 0.2);
                List<int> expected;
                switch (type)
                {
                    case 0:
                    {
                        var v = Ints(rnd, n);
                        count = SelectionKernels.Refine(v, validity, 3, op, 1, sel, count);
                        expected = Reference(v, validity, 3, op, 1, rows);
                        break;
                    }
                    case 1:
                    {
                        var v = Longs(rnd, n);
                        count = SelectionKernels.Refine(v, validity, 3, op, -1L, sel, count);
                        expected = Reference(v, validity, 3, op, -1L, rows);
                        break;
                    }
                    default:
                    {
                        var v = Doubles(rnd, n);
                        var c = op == CompareOp.Le ? double.NaN : 0.5;
                        count = SelectionKernels.Refine(v, default, 0, op, c, sel, count);
                        expected = Reference(v, null, 0, op, c, rows);
                        break;
                    }
                }
                Assert.True(expected.SequenceEqual(sel.Take(count)), $"type {type} n={n} {op}: expected {expected.Count}, got {count}");
            }
        }
    }

    [Fact]
    public void Refine_rejects_indexes_outside_the_column()
    {
        var sel = new[] { 0, 5 };
        Assert.Throws<IndexOutOfRangeException>(() => SelectionKernels.Refine(new[] { 1, 2, 3 }, default, 0, CompareOp.Gt, 0, sel, 2));
    }

    [Fact]
    public void Select_rejects_a_selection_shorter_than_the_input()
    {
        Assert.Throws<ArgumentException>(() => SelectionKernels.Select(new[] { 1, 2, 3 }, default, 0, CompareOp.Gt, 0, new int[2]));
        Assert.Throws<ArgumentException>(() => SelectionKernels.Select(new[] { 1, 2, 3 }, new byte[1], 6, CompareOp.Gt, 0, new int[3]));
    }

    [Fact]
    public void Comparison_bitmaps_match_the_reference_ignoring_validity()
    {
        var rnd = new Random(5);
        foreach (var n in Lengths)
        {
            var ints = Ints(rnd, n);
            var doubles = Doubles(rnd, n);
            foreach (var op in Ops)
            {
                var bits = new byte[(n + 7) / 8];
                SelectionKernels.CompareBits<int>(ints, op, 0, bits);
                Assert.Equal(Reference(ints, null, 0, op, 0), Enumerable.Range(0, n).Where(i => (bits[i >> 3] & (1 << (i & 7))) != 0));
                foreach (var c in new[] { 0.5, double.NaN })
                {
                    SelectionKernels.CompareBits<double>(doubles, op, c, bits);
                    Assert.Equal(Reference(doubles, null, 0, op, c), Enumerable.Range(0, n).Where(i => (bits[i >> 3] & (1 << (i & 7))) != 0));
                }
            }
        }
    }

    [Fact]
    public void Sixty_four_bits_are_read_at_any_bit_offset_and_zero_past_the_end()
    {
        var rnd = new Random(6);
        var bytes = new byte[21];
        rnd.NextBytes(bytes);
        for (var pos = 0; pos < bytes.Length * 8; pos++)
        {
            ulong expected = 0;
            for (var k = 0; k < 64 && pos + k < bytes.Length * 8; k++)
                if ((bytes[(pos + k) >> 3] & (1 << ((pos + k) & 7))) != 0) expected |= 1UL << k;
            Assert.Equal(expected, SelectionKernels.LoadBits64(bytes, pos));
        }
    }

    [Theory]
    [InlineData(ColumnKind.Int32)]
    [InlineData(ColumnKind.Date)]
    [InlineData(ColumnKind.Int64)]
    [InlineData(ColumnKind.Timestamp)]
    [InlineData(ColumnKind.Float64)]
    public void Constant_filter_reads_sliced_arrays_at_their_offset(ColumnKind kind)
    {
        var schema = new Schema.Builder().Field(ColumnTypes.Field("x", kind)).Build();
        var rows = Enumerable.Range(0, 300).Select(i => new object?[]
        {
            i % 7 == 3 ? null : kind switch
            {
                ColumnKind.Int32 or ColumnKind.Date => (object)(i % 10),
                ColumnKind.Float64 => i % 10 * 1.0,
                _ => (long)(i % 10),
            },
        }).ToArray();
        using var batch = Support.Batches.Make(schema, rows);
        var sliced = ((Apache.Arrow.Array)batch.Column(0)).Slice(37, 200);
        foreach (var op in Ops)
        {
            var filter = new ConstantFilter(0, kind, op, 4L);
            var sel = new int[200];
            var count = filter.Select(sliced, sel);
            var expected = Enumerable.Range(0, 200).Where(i => rows[i + 37][0] is { } v && CompareOps.Test(op, Convert.ToDouble(v).CompareTo(4.0))).ToList();
            Assert.Equal(expected, sel.Take(count));
            // Refining by the same filter keeps every selected row.
            Assert.Equal(count, filter.Refine(sliced, sel, count));
        }
    }
}
