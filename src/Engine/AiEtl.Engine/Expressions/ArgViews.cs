using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Memory;
using Apache.Arrow;

namespace AiEtl.Engine.Expressions;

/// <summary>
/// Row access to a string argument: an evaluated Arrow string array, or a constant that is never broadcast.
/// A view is created once per batch; <see cref="Get"/> returns a slice of the UTF-8 data (no allocation).
/// </summary>
internal readonly ref struct StrCol
{
    private readonly ReadOnlySpan<int> _offsets;
    private readonly ReadOnlySpan<byte> _data;
    private readonly ReadOnlySpan<byte> _validity;
    private readonly bool _const;
    private readonly bool _constNull;

    private StrCol(ReadOnlySpan<int> offsets, ReadOnlySpan<byte> data, ReadOnlySpan<byte> validity, bool isConst, bool constNull)
    {
        _offsets = offsets;
        _data = data;
        _validity = validity;
        _const = isConst;
        _constNull = constNull;
    }

    public bool IsConst => _const;

    public static StrCol Of(VExpr e, EvalContext ctx)
    {
        if (e is LiteralVExpr lit)
            return lit.Value == null ? new StrCol(default, default, default, true, true) : new StrCol(default, lit.Utf8, default, true, false);
        return Of(e.Eval(ctx), ctx.Assembler);
    }

    public static StrCol Of(IArrowArray a, BatchAssembler asm)
    {
        var s = (StringArray)a;
        return new StrCol(s.ValueOffsets, s.ValueBuffer.Span, Bits.Validity(a, asm), false, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsNull(int i) => _const ? _constNull : !Bits.Get(_validity, i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> Get(int i) => _const ? _data : _data[_offsets[i].._offsets[i + 1]];

    /// <summary>Total bytes (a size hint for outputs).</summary>
    public int Bytes(int n) => _const ? _data.Length * n : _offsets.IsEmpty ? 0 : _offsets[n] - _offsets[0];
}

/// <summary>Row access to an integer argument (int32 or int64, widened), or a constant.</summary>
internal readonly ref struct IntCol
{
    private readonly ReadOnlySpan<long> _l;
    private readonly ReadOnlySpan<int> _i;
    private readonly ReadOnlySpan<byte> _validity;
    private readonly long _c;
    private readonly bool _const;
    private readonly bool _constNull;

    private IntCol(ReadOnlySpan<long> l, ReadOnlySpan<int> i, ReadOnlySpan<byte> validity, long c, bool isConst, bool constNull)
    {
        _l = l;
        _i = i;
        _validity = validity;
        _c = c;
        _const = isConst;
        _constNull = constNull;
    }

    public bool IsConst => _const;

    public static IntCol Of(VExpr e, EvalContext ctx)
    {
        if (e is LiteralVExpr lit)
            return lit.Value == null ? new IntCol(default, default, default, 0, true, true) : new IntCol(default, default, default, Convert.ToInt64(lit.Value, System.Globalization.CultureInfo.InvariantCulture), true, false);
        var a = e.Eval(ctx);
        var validity = Bits.Validity(a, ctx.Assembler);
        return ColumnTypes.FromArrow(a.Data.DataType) is ColumnKind.Int32 or ColumnKind.Date
            ? new IntCol(default, Gather.Values<int>(a), validity, 0, false, false)
            : new IntCol(Gather.Values<long>(a), default, validity, 0, false, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsNull(int i) => _const ? _constNull : !Bits.Get(_validity, i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long Get(int i) => _const ? _c : _l.IsEmpty ? _i[i] : _l[i];
}

/// <summary>Row access to a float64 argument (integers widened), or a constant.</summary>
internal readonly ref struct F64Col
{
    private readonly ReadOnlySpan<double> _d;
    private readonly ReadOnlySpan<byte> _validity;
    private readonly double _c;
    private readonly bool _const;
    private readonly bool _constNull;

    private F64Col(ReadOnlySpan<double> d, ReadOnlySpan<byte> validity, double c, bool isConst, bool constNull)
    {
        _d = d;
        _validity = validity;
        _c = c;
        _const = isConst;
        _constNull = constNull;
    }

    public static F64Col Of(VExpr e, EvalContext ctx)
    {
        if (e is LiteralVExpr lit)
            return lit.Value == null ? new F64Col(default, default, 0, true, true) : new F64Col(default, default, Convert.ToDouble(lit.Value, System.Globalization.CultureInfo.InvariantCulture), true, false);
        var a = e.Eval(ctx);
        return new F64Col(Num.F64(a, ctx), Bits.Validity(a, ctx.Assembler), 0, false, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsNull(int i) => _const ? _constNull : !Bits.Get(_validity, i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double Get(int i) => _const ? _c : _d[i];
}

/// <summary>A fixed-width output column written row by row into pooled buffers.</summary>
internal sealed unsafe class FixedOut<T> where T : unmanaged
{
    private readonly BatchAssembler _asm;
    private readonly ColumnKind _kind;
    private readonly int _n;
    private readonly NativeBuffer _values;
    private readonly NativeBuffer _validity;
    private int _nulls;

    public FixedOut(BatchAssembler asm, ColumnKind kind, int n)
    {
        _asm = asm;
        _kind = kind;
        _n = n;
        _values = asm.Rent(Math.Max(n * sizeof(T), 8));
        _validity = asm.Rent(Bits.Bytes(n) + 8);
        new Span<byte>(_validity.Pointer, Bits.Bytes(n)).Fill(0xFF);
    }

    public Span<T> Values => new(_values.Pointer, _n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(int i, T v) => ((T*)_values.Pointer)[i] = v;

    public void Null(int i)
    {
        ((T*)_values.Pointer)[i] = default;
        _validity.Pointer[i >> 3] &= (byte)~(1 << (i & 7));
        _nulls++;
    }

    public IArrowArray Finish() => _asm.Fixed(_kind, _n, _values, _nulls > 0 ? _validity : null, _nulls);
}

/// <summary>A boolean output column (values and validity bitmaps).</summary>
internal sealed unsafe class BoolOut
{
    private readonly BatchAssembler _asm;
    private readonly int _n;
    private readonly NativeBuffer _values;
    private readonly NativeBuffer _validity;
    private int _nulls;

    public BoolOut(BatchAssembler asm, int n)
    {
        _asm = asm;
        _n = n;
        _values = asm.Rent(Bits.Bytes(n) + 8);
        _validity = asm.Rent(Bits.Bytes(n) + 8);
        new Span<byte>(_values.Pointer, Bits.Bytes(n)).Clear();
        new Span<byte>(_validity.Pointer, Bits.Bytes(n)).Fill(0xFF);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(int i, bool v)
    {
        if (v) _values.Pointer[i >> 3] |= (byte)(1 << (i & 7));
    }

    public void Null(int i)
    {
        _validity.Pointer[i >> 3] &= (byte)~(1 << (i & 7));
        _nulls++;
    }

    public IArrowArray Finish() => _asm.Fixed(ColumnKind.Bool, _n, _values, _nulls > 0 ? _validity : null, _nulls);
}

/// <summary>
/// Evaluation over a subset of the current rows (for lazy CASE / COALESCE branches): the subset gets its
/// own context; errors found there are reported against the outer rows.
/// </summary>
internal static class Subset
{
    /// <summary>Evaluates <paramref name="e"/> on the rows <paramref name="rows"/> (positions in <paramref name="ctx"/>).</summary>
    public static IArrowArray Eval(VExpr e, EvalContext ctx, ReadOnlySpan<int> rows)
    {
        if (rows.Length == ctx.Length) return e.Eval(ctx);
        var sel = ArrayPool<int>.Shared.Rent(Math.Max(rows.Length, 1));
        try
        {
            for (var j = 0; j < rows.Length; j++) sel[j] = ctx.Selection == null ? rows[j] : ctx.Selection[rows[j]];
            var errors = new RowErrors();
            var sub = new EvalContext { Input = ctx.Input, Selection = sel, Length = rows.Length, Assembler = ctx.Assembler, Errors = errors };
            var result = e.Eval(sub);
            if (errors.Any)
                foreach (var (row, message) in errors.All) ctx.Errors.Add(rows[row], message);
            return result;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(sel);
        }
    }

    /// <summary>
    /// Builds a column of <paramref name="n"/> rows where row i is row <paramref name="index"/>[i] of
    /// <paramref name="parts"/>[<paramref name="part"/>[i]], or NULL when the part number is negative.
    /// </summary>
    public static unsafe IArrowArray Merge(ColumnKind kind, int n, IArrowArray?[] parts, ReadOnlySpan<int> part, ReadOnlySpan<int> index, BatchAssembler asm)
    {
        switch (kind)
        {
            case ColumnKind.String:
            {
                long total = 0;
                foreach (var p in parts) if (p != null) total += ((StringArray)p).ValueBuffer.Length;
                var so = new StringOut(asm, n, (int)Math.Min(total + 16, int.MaxValue / 2));
                for (var i = 0; i < n; i++)
                {
                    var k = part[i];
                    if (k < 0) { so.Null(); continue; }
                    var s = (StringArray)parts[k]!;
                    var j = index[i];
                    if (s.IsNull(j)) so.Null(); else so.Add(s.GetBytes(j));
                }
                return so.Finish();
            }
            case ColumnKind.Bool:
            {
                var o = new BoolOut(asm, n);
                for (var i = 0; i < n; i++)
                {
                    var k = part[i];
                    if (k < 0) { o.Null(i); continue; }
                    var a = (BooleanArray)parts[k]!;
                    var v = a.GetValue(index[i]);
                    if (v is { } b) o.Set(i, b); else o.Null(i);
                }
                return o.Finish();
            }
            case ColumnKind.Int32 or ColumnKind.Date:
                return MergeFixed<int>(kind, n, parts, part, index, asm);
            default:
                return MergeFixed<long>(kind, n, parts, part, index, asm);
        }
    }

    private static IArrowArray MergeFixed<T>(ColumnKind kind, int n, IArrowArray?[] parts, ReadOnlySpan<int> part, ReadOnlySpan<int> index, BatchAssembler asm) where T : unmanaged
    {
        var o = new FixedOut<T>(asm, kind, n);
        for (var i = 0; i < n; i++)
        {
            var k = part[i];
            if (k < 0) { o.Null(i); continue; }
            var a = parts[k]!;
            var j = index[i];
            if (a.IsNull(j)) o.Null(i);
            else o.Set(i, Gather.Values<T>(a)[j]);
        }
        return o.Finish();
    }
}

/// <summary>UTF-8 helpers shared by the string functions.</summary>
internal static class Utf8Util
{
    /// <summary>Length in bytes of the UTF-8 sequence starting with <paramref name="lead"/> (1 for stray bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SeqLen(byte lead) => lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;

    /// <summary>Number of code points.</summary>
    public static int CharCount(ReadOnlySpan<byte> s)
    {
        if (Ascii.IsValid(s)) return s.Length;
        var continuation = 0;
        foreach (var b in s) if ((b & 0xC0) == 0x80) continuation++;
        return s.Length - continuation;
    }

    /// <summary>Byte offset of code point number <paramref name="chars"/> (clamped to the end).</summary>
    public static int ByteOffset(ReadOnlySpan<byte> s, long chars)
    {
        var pos = 0;
        for (long c = 0; c < chars && pos < s.Length; c++) pos += SeqLen(s[pos]);
        return Math.Min(pos, s.Length);
    }
}
