using System.Globalization;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Memory;
using Apache.Arrow;

namespace AiEtl.Engine.Expressions;

/// <summary>A column of the input; zero-copy without a selection, gathered with one.</summary>
public sealed class ColumnVExpr(int index, string name, ColumnKind kind) : VExpr
{
    public int Index => index;
    public string Name => name;
    public override ColumnKind Kind => kind;
    public override string Describe() => name;

    public override IArrowArray Eval(EvalContext ctx)
    {
        var col = ctx.Input.Column(index);
        if (ctx.Selection == null) return col;
        return Gather.Column(col, ctx.Selection.AsSpan(0, ctx.Length), ctx.Assembler);
    }
}

/// <summary>A constant, broadcast to the batch length when evaluated.</summary>
public sealed class LiteralVExpr(object? value, ColumnKind kind) : VExpr
{
    private byte[]? _utf8;
    public object? Value => value;
    public override ColumnKind Kind => kind;

    /// <summary>The UTF-8 bytes of a string constant.</summary>
    public byte[] Utf8 => _utf8 ??= Encoding.UTF8.GetBytes((string)value!);

    public override string Describe() => value switch
    {
        null => "NULL",
        string s => "'" + s.Replace("'", "''", StringComparison.Ordinal) + "'",
        bool b => b ? "TRUE" : "FALSE",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture)!,
    };

    public override unsafe IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var asm = ctx.Assembler;
        NativeBuffer? validity = null;
        if (value == null)
        {
            validity = asm.Rent(Bits.Bytes(n) + 8);
            new Span<byte>(validity.Pointer, Bits.Bytes(n)).Clear();
        }
        switch (kind)
        {
            case ColumnKind.String:
            {
                var bytes = value == null ? [] : Encoding.UTF8.GetBytes((string)value);
                var offsets = asm.Rent((n + 1) * 4);
                var data = asm.Rent(Math.Max(bytes.Length * n, 8));
                var o = (int*)offsets.Pointer;
                o[0] = 0;
                for (var i = 0; i < n; i++)
                {
                    bytes.CopyTo(new Span<byte>(data.Pointer + (long)i * bytes.Length, bytes.Length));
                    o[i + 1] = (i + 1) * bytes.Length;
                }
                return asm.String(n, offsets, data, bytes.Length * n, validity, value == null ? n : 0);
            }
            case ColumnKind.Bool:
            {
                var buf = asm.Rent(Bits.Bytes(n) + 8);
                new Span<byte>(buf.Pointer, Bits.Bytes(n)).Fill(value is true ? (byte)0xFF : (byte)0);
                return asm.Fixed(kind, n, buf, validity, value == null ? n : 0);
            }
            case ColumnKind.Int32 or ColumnKind.Date:
            {
                var buf = asm.Rent(Math.Max(n * 4, 8));
                new Span<int>(buf.Pointer, n).Fill(value == null ? 0 : Convert.ToInt32(value, CultureInfo.InvariantCulture));
                return asm.Fixed(kind, n, buf, validity, value == null ? n : 0);
            }
            case ColumnKind.Float64:
            {
                var buf = asm.Rent(Math.Max(n * 8, 8));
                new Span<double>(buf.Pointer, n).Fill(value == null ? 0 : Convert.ToDouble(value, CultureInfo.InvariantCulture));
                return asm.Fixed(kind, n, buf, validity, value == null ? n : 0);
            }
            default:
            {
                var buf = asm.Rent(Math.Max(n * 8, 8));
                new Span<long>(buf.Pointer, n).Fill(value == null ? 0 : Convert.ToInt64(value, CultureInfo.InvariantCulture));
                return asm.Fixed(kind, n, buf, validity, value == null ? n : 0);
            }
        }
    }
}

/// <summary>Helpers that view or convert numeric arrays.</summary>
internal static unsafe class Num
{
    public static ReadOnlySpan<long> I64(IArrowArray a, EvalContext ctx)
    {
        var k = ColumnTypes.FromArrow(a.Data.DataType);
        if (k is ColumnKind.Int64 or ColumnKind.Timestamp) return Gather.Values<long>(a);
        var n = a.Length;
        var buf = ctx.Assembler.Rent(Math.Max(n * 8, 8));
        var dst = new Span<long>(buf.Pointer, n);
        var src = Gather.Values<int>(a);
        for (var i = 0; i < n; i++) dst[i] = src[i];
        return dst;
    }

    public static ReadOnlySpan<int> I32(IArrowArray a) => Gather.Values<int>(a);

    public static ReadOnlySpan<double> F64(IArrowArray a, EvalContext ctx)
    {
        var k = ColumnTypes.FromArrow(a.Data.DataType);
        if (k == ColumnKind.Float64) return Gather.Values<double>(a);
        var n = a.Length;
        var buf = ctx.Assembler.Rent(Math.Max(n * 8, 8));
        var dst = new Span<double>(buf.Pointer, n);
        if (k is ColumnKind.Int32 or ColumnKind.Date)
        {
            var src = Gather.Values<int>(a);
            for (var i = 0; i < n; i++) dst[i] = src[i];
        }
        else
        {
            var src = Gather.Values<long>(a);
            for (var i = 0; i < n; i++) dst[i] = src[i];
        }
        return dst;
    }
}

/// <summary>+ - * / % on numbers with SQL null propagation; integer overflow and division by zero are row errors.</summary>
/// <remarks>
/// Fast path: <see cref="ArithKernels"/> (fused with the gather when both operands are plain columns under a
/// selection, so no gathered copies are made; dense otherwise, for integers). When a kernel reports that some
/// row may need an error, the batch takes the exact path below, which decides errors row by row.
/// </remarks>
public sealed class ArithVExpr(string op, VExpr left, VExpr right, ColumnKind kind) : VExpr
{
    private readonly ArithOp _op = ArithKernels.Parse(op);

    public override ColumnKind Kind => kind;
    public string Op => op;
    public VExpr Left => left;
    public VExpr Right => right;
    public override string Describe() => $"({left.Describe()} {op} {right.Describe()})";

    public override IArrowArray Eval(EvalContext ctx)
    {
        if (ctx.Selection != null && left is ColumnVExpr lc && right is ColumnVExpr rc)
        {
            var fused = TryKernel(ctx, ctx.Input.Column(lc.Index), ctx.Input.Column(rc.Index), ctx.Selection.AsSpan(0, ctx.Length), dense: false);
            if (fused != null) return fused;
        }
        var a = left.Eval(ctx);
        var b = right.Eval(ctx);
        if (kind != ColumnKind.Float64)
        {
            // Float64 stays on the vectorized TensorPrimitives path below (its error check is one IsFiniteAll).
            var fast = TryKernel(ctx, a, b, default, dense: true);
            if (fast != null) return fast;
        }
        return Exact(ctx, a, b);
    }

    private unsafe IArrowArray? TryKernel(EvalContext ctx, IArrowArray a, IArrowArray b, ReadOnlySpan<int> sel, bool dense)
    {
        // The fused kernels cover plain numbers; timestamp/date/interval arithmetic takes the exact path.
        if (!IsPlain(kind) || !IsPlain(ColumnTypes.FromArrow(a.Data.DataType)) || !IsPlain(ColumnTypes.FromArrow(b.Data.DataType))) return null;
        var n = ctx.Length;
        var asm = ctx.Assembler;
        var bytes = n * (kind == ColumnKind.Int32 ? 4 : 8);
        var buf = asm.Rent(Math.Max(bytes, 8));
        // On false the buffer stays with the assembler (returned with the batch): the exact path takes over.
        if (!ArithKernels.Evaluate(_op, kind, a, b, sel, dense, new Span<byte>(buf.Pointer, bytes))) return null;
        NativeBuffer? validity = null;
        var nulls = 0;
        if (dense)
        {
            (validity, nulls) = Bits.And(Bits.Validity(a, asm), Bits.Validity(b, asm), n, asm);
        }
        else if (a.NullCount != 0 || b.NullCount != 0)
        {
            validity = asm.Rent(Bits.Bytes(n) + 8);
            nulls = Gather.GatherValidityAnd(a, b, sel, validity.Pointer);
        }
        return asm.Fixed(kind, n, buf, validity, nulls);
    }

    private static bool IsPlain(ColumnKind k) => k is ColumnKind.Int32 or ColumnKind.Int64 or ColumnKind.Float64;

    private unsafe IArrowArray Exact(EvalContext ctx, IArrowArray a, IArrowArray b)
    {
        var n = ctx.Length;
        var asm = ctx.Assembler;
        var (validity, nulls) = Bits.And(Bits.Validity(a, asm), Bits.Validity(b, asm), n, asm);
        var vbits = validity == null ? default : new ReadOnlySpan<byte>(validity.Pointer, Bits.Bytes(n));
        switch (kind)
        {
            case ColumnKind.Float64:
            {
                var x = Num.F64(a, ctx);
                var y = Num.F64(b, ctx);
                var buf = asm.Rent(Math.Max(n * 8, 8));
                var r = new Span<double>(buf.Pointer, n);
                switch (op)
                {
                    case "+": System.Numerics.Tensors.TensorPrimitives.Add(x, y, r); break;
                    case "-": System.Numerics.Tensors.TensorPrimitives.Subtract(x, y, r); break;
                    case "*": System.Numerics.Tensors.TensorPrimitives.Multiply(x, y, r); break;
                    case "/":
                        System.Numerics.Tensors.TensorPrimitives.Divide(x, y, r);
                        // A zero divisor always gives a non-finite quotient.
                        if (!ArithKernels.AllFinite(r))
                            for (var i = 0; i < n; i++)
                                if (y[i] == 0 && Bits.Get(vbits, i)) ctx.Errors.Add(i, "division by zero");
                        break;
                    case "%":
                        for (var i = 0; i < n; i++)
                        {
                            if (y[i] == 0 && Bits.Get(vbits, i)) ctx.Errors.Add(i, "division by zero");
                            r[i] = y[i] == 0 ? 0 : x[i] % y[i];
                        }
                        break;
                }
                if (!ArithKernels.AllFinite(r))
                    for (var i = 0; i < n; i++)
                        if (!double.IsFinite(r[i]) && double.IsFinite(x[i]) && double.IsFinite(y[i]) && y[i] != 0 && Bits.Get(vbits, i))
                            ctx.Errors.Add(i, $"value out of range: overflow in {Describe()}");
                return asm.Fixed(kind, n, buf, validity, nulls);
            }
            case ColumnKind.Int64:
            {
                var x = Num.I64(a, ctx);
                var y = Num.I64(b, ctx);
                var buf = asm.Rent(Math.Max(n * 8, 8));
                var r = new Span<long>(buf.Pointer, n);
                IntKernel(x, y, r, vbits, ctx, long.MinValue, long.MaxValue);
                return asm.Fixed(kind, n, buf, validity, nulls);
            }
            default:
            {
                var x = Num.I32(a);
                var y = Num.I32(b);
                var buf = asm.Rent(Math.Max(n * 4, 8));
                var r = new Span<int>(buf.Pointer, n);
                for (var i = 0; i < n; i++)
                {
                    long v;
                    switch (op)
                    {
                        case "+": v = (long)x[i] + y[i]; break;
                        case "-": v = (long)x[i] - y[i]; break;
                        case "*": v = (long)x[i] * y[i]; break;
                        default:
                            if (y[i] == 0) { if (Bits.Get(vbits, i)) ctx.Errors.Add(i, "division by zero"); v = 0; }
                            else v = op == "/" ? (long)x[i] / y[i] : (long)x[i] % y[i];
                            break;
                    }
                    if (v is < int.MinValue or > int.MaxValue)
                    {
                        if (Bits.Get(vbits, i)) ctx.Errors.Add(i, $"integer out of range in {Describe()}");
                        v = 0;
                    }
                    r[i] = (int)v;
                }
                return asm.Fixed(kind, n, buf, validity, nulls);
            }
        }
    }

    private void IntKernel(ReadOnlySpan<long> x, ReadOnlySpan<long> y, Span<long> r, ReadOnlySpan<byte> vbits, EvalContext ctx, long min, long max)
    {
        var n = r.Length;
        switch (op)
        {
            case "+":
                for (var i = 0; i < n; i++)
                {
                    var v = x[i] + y[i];
                    if (((x[i] ^ v) & (y[i] ^ v)) < 0 && Bits.Get(vbits, i)) ctx.Errors.Add(i, $"bigint out of range in {Describe()}");
                    r[i] = v;
                }
                break;
            case "-":
                for (var i = 0; i < n; i++)
                {
                    var v = x[i] - y[i];
                    if (((x[i] ^ y[i]) & (x[i] ^ v)) < 0 && Bits.Get(vbits, i)) ctx.Errors.Add(i, $"bigint out of range in {Describe()}");
                    r[i] = v;
                }
                break;
            case "*":
                for (var i = 0; i < n; i++)
                {
                    var hi = Math.BigMul(x[i], y[i], out var lo);
                    if ((hi != 0 || lo < 0) && (hi != -1 || lo >= 0) && Bits.Get(vbits, i)) ctx.Errors.Add(i, $"bigint out of range in {Describe()}");
                    r[i] = lo;
                }
                break;
            default:
                for (var i = 0; i < n; i++)
                {
                    if (y[i] == 0)
                    {
                        if (Bits.Get(vbits, i)) ctx.Errors.Add(i, "division by zero");
                        r[i] = 0;
                    }
                    else if (x[i] == min && y[i] == -1)
                    {
                        if (op == "/" && Bits.Get(vbits, i)) ctx.Errors.Add(i, $"bigint out of range in {Describe()}");
                        r[i] = op == "/" ? 0 : 0;
                    }
                    else r[i] = op == "/" ? x[i] / y[i] : x[i] % y[i];
                }
                break;
        }
        _ = max;
    }
}

/// <summary>Unary minus.</summary>
public sealed class NegateVExpr(VExpr operand) : VExpr
{
    private readonly ArithVExpr _impl = new("-", new LiteralVExpr(operand.Kind == ColumnKind.Float64 ? 0.0 : 0L, operand.Kind), operand, operand.Kind);
    public override ColumnKind Kind => operand.Kind;
    public override string Describe() => $"(-{operand.Describe()})";
    public override IArrowArray Eval(EvalContext ctx) => _impl.Eval(ctx);
}

/// <summary>= &lt;&gt; &lt; &lt;= &gt; &gt;= producing a boolean with SQL null semantics (float64 in SQL order: NaN = NaN, NaN largest).</summary>
public sealed class CompareVExpr(string op, VExpr left, VExpr right, ColumnKind operandKind) : VExpr
{
    private readonly CompareOp _op = CompareOps.Parse(op);

    public override ColumnKind Kind => ColumnKind.Bool;
    public CompareOp Op => _op;
    public VExpr Left => left;
    public VExpr Right => right;
    public ColumnKind OperandKind => operandKind;
    public override string Describe() => $"({left.Describe()} {op} {right.Describe()})";

    /// <summary>
    /// When this is <c>column op constant</c> on a fixed-width column of the operand type, the equivalent
    /// <see cref="ConstantFilter"/> (a predicate that goes straight to a selection vector); else null.
    /// </summary>
    public ConstantFilter? AsConstantFilter(Schema input)
    {
        if (left is not ColumnVExpr col || right is not LiteralVExpr { Value: { } value } || !ConstantFilter.Supports(operandKind)) return null;
        if (col.Index >= input.FieldsList.Count || ColumnTypes.FromArrow(input.FieldsList[col.Index].DataType) != operandKind) return null;
        // The binder gives the literal the operand type; anything else (e.g. an int64 beyond int32) stays on the general path.
        var fits = operandKind switch
        {
            ColumnKind.Int32 or ColumnKind.Date => value is int,
            ColumnKind.Int64 or ColumnKind.Timestamp => value is long or int,
            _ => value is double,
        };
        return fits ? new ConstantFilter(col.Index, operandKind, _op, value) : null;
    }

    public override unsafe IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var asm = ctx.Assembler;
        var outBuf = asm.Rent(Bits.Bytes(n) + 64);
        var dst = outBuf.Pointer;
        new Span<byte>(dst, Bits.Bytes(n) + 8).Clear();
        var a = left.Eval(ctx);
        // Constant right side on fixed-width numbers: the SIMD fast path (e.g. status < 5).
        if (right is LiteralVExpr { Value: not null } lit && operandKind is ColumnKind.Int32 or ColumnKind.Int64 or ColumnKind.Float64 or ColumnKind.Timestamp or ColumnKind.Date
            && ColumnTypes.FromArrow(a.Data.DataType) == operandKind)
        {
            var bits = new Span<byte>(dst, Bits.Bytes(n));
            switch (operandKind)
            {
                case ColumnKind.Int32 or ColumnKind.Date:
                    SelectionKernels.CompareBits(Gather.Values<int>(a), _op, Convert.ToInt32(lit.Value, CultureInfo.InvariantCulture), bits);
                    break;
                case ColumnKind.Float64:
                    SelectionKernels.CompareBits(Gather.Values<double>(a), _op, Convert.ToDouble(lit.Value, CultureInfo.InvariantCulture), bits);
                    break;
                default:
                    SelectionKernels.CompareBits(Gather.Values<long>(a), _op, Convert.ToInt64(lit.Value, CultureInfo.InvariantCulture), bits);
                    break;
            }
            var va = Bits.Validity(a, asm);
            if (va.IsEmpty) return asm.Fixed(ColumnKind.Bool, n, outBuf, null, 0);
            var vb = asm.Rent(Bits.Bytes(n) + 8);
            va.CopyTo(new Span<byte>(vb.Pointer, va.Length));
            return asm.Fixed(ColumnKind.Bool, n, outBuf, vb, n - Bits.PopCount(va, n));
        }
        var b = right.Eval(ctx);
        var (validity, nulls) = Bits.And(Bits.Validity(a, asm), Bits.Validity(b, asm), n, asm);
        CompareInto(a, b, dst, ctx);
        return asm.Fixed(ColumnKind.Bool, n, outBuf, validity, nulls);
    }

    /// <summary>Sets bit i of <paramref name="dst"/> (cleared by the caller) where <c>a[i] op b[i]</c>, ignoring validity.</summary>
    internal unsafe void CompareInto(IArrowArray a, IArrowArray b, byte* dst, EvalContext ctx)
    {
        var n = ctx.Length;
        var asm = ctx.Assembler;
        switch (operandKind)
        {
            case ColumnKind.Float64:
            {
                var x = Num.F64(a, ctx);
                var y = Num.F64(b, ctx);
                for (var i = 0; i < x.Length; i++)
                    if (CompareOps.Test(_op, CompareOps.CompareSql(x[i], y[i]))) dst[i >> 3] |= (byte)(1 << (i & 7));
                break;
            }
            case ColumnKind.Int32 or ColumnKind.Date:
                CompareArrays(Gather.Values<int>(a), Gather.Values<int>(b), dst);
                break;
            case ColumnKind.Int64 or ColumnKind.Timestamp:
                CompareArrays(Num.I64(a, ctx), Num.I64(b, ctx), dst);
                break;
            case ColumnKind.String:
            {
                var sa = (StringArray)a;
                var sb = (StringArray)b;
                for (var i = 0; i < n; i++)
                    if (CompareOps.Test(_op, sa.GetBytes(i).SequenceCompareTo(sb.GetBytes(i)))) Bits.Set(dst, i);
                break;
            }
            case ColumnKind.Bool:
            {
                var xa = Bits.BoolValues(a, asm);
                var xb = Bits.BoolValues(b, asm);
                for (var i = 0; i < n; i++)
                    if (CompareOps.Test(_op, Bits.Get(xa, i).CompareTo(Bits.Get(xb, i)))) Bits.Set(dst, i);
                break;
            }
        }
    }

    private unsafe void CompareArrays<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, byte* dst) where T : unmanaged, IComparable<T>
    {
        for (var i = 0; i < x.Length; i++)
            if (CompareOps.Test(_op, x[i].CompareTo(y[i]))) dst[i >> 3] |= (byte)(1 << (i & 7));
    }
}

/// <summary>
/// <c>a IS [NOT] DISTINCT FROM b</c>: equality in which NULL equals NULL and differs from any value; never NULL.
/// Both sides are evaluated once; the equality kernel of <see cref="CompareVExpr"/> (same types, same float order)
/// gives the value bits, which are then merged with the two validity bitmaps a byte at a time.
/// </summary>
public sealed class DistinctFromVExpr(CompareVExpr equal, bool negated) : VExpr
{
    public override ColumnKind Kind => ColumnKind.Bool;
    public override string Describe() => $"({equal.Left.Describe()} IS {(negated ? "NOT " : "")}DISTINCT FROM {equal.Right.Describe()})";

    public override unsafe IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var asm = ctx.Assembler;
        var bytes = Bits.Bytes(n);
        var outBuf = asm.Rent(bytes + 64);
        var dst = outBuf.Pointer;
        new Span<byte>(dst, bytes + 8).Clear();
        var a = equal.Left.Eval(ctx);
        var b = equal.Right.Eval(ctx);
        equal.CompareInto(a, b, dst, ctx);
        var va = Bits.Validity(a, asm);
        var vb = Bits.Validity(b, asm);
        for (var i = 0; i < bytes; i++)
        {
            int am = va.IsEmpty ? 0xFF : va[i], bm = vb.IsEmpty ? 0xFF : vb[i];
            var same = (am & bm & dst[i]) | (~am & ~bm & 0xFF);
            dst[i] = (byte)(negated ? same : ~same);
        }
        return asm.Fixed(ColumnKind.Bool, n, outBuf, null, 0);
    }
}

/// <summary>AND / OR with three-valued logic.</summary>
public sealed class LogicVExpr(string op, VExpr left, VExpr right) : VExpr
{
    public override ColumnKind Kind => ColumnKind.Bool;
    /// <summary><c>AND</c> or <c>OR</c>.</summary>
    public string Op => op;
    public VExpr Left => left;
    public VExpr Right => right;
    public override string Describe() => $"({left.Describe()} {op} {right.Describe()})";

    public override unsafe IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var asm = ctx.Assembler;
        var a = left.Eval(ctx);
        var b = right.Eval(ctx);
        var av = Bits.BoolValues(a, asm);
        var bv = Bits.BoolValues(b, asm);
        var am = Bits.Validity(a, asm);
        var bm = Bits.Validity(b, asm);
        var bytes = Bits.Bytes(n);
        var vals = asm.Rent(bytes + 8);
        var valid = asm.Rent(bytes + 8);
        var anyNull = false;
        for (var i = 0; i < bytes; i++)
        {
            int aM = am.IsEmpty ? 0xFF : am[i], bM = bm.IsEmpty ? 0xFF : bm[i];
            int aT = av[i] & aM, bT = bv[i] & bM;
            int aF = aM & ~av[i], bF = bM & ~bv[i];
            int t, f;
            if (op == "AND") { t = aT & bT; f = aF | bF; }
            else { t = aT | bT; f = aF & bF; }
            vals.Pointer[i] = (byte)t;
            valid.Pointer[i] = (byte)(t | f);
        }
        var validSpan = new ReadOnlySpan<byte>(valid.Pointer, bytes);
        var nulls = n - Bits.PopCount(validSpan, n);
        anyNull = nulls > 0;
        return asm.Fixed(ColumnKind.Bool, n, vals, anyNull ? valid : null, nulls);
    }
}

/// <summary>NOT with three-valued logic.</summary>
public sealed class NotVExpr(VExpr operand) : VExpr
{
    public override ColumnKind Kind => ColumnKind.Bool;
    public override string Describe() => $"(NOT {operand.Describe()})";

    public override unsafe IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var asm = ctx.Assembler;
        var a = operand.Eval(ctx);
        var av = Bits.BoolValues(a, asm);
        var bytes = Bits.Bytes(n);
        var vals = asm.Rent(bytes + 8);
        for (var i = 0; i < bytes; i++) vals.Pointer[i] = (byte)~av[i];
        var am = Bits.Validity(a, asm);
        if (am.IsEmpty) return asm.Fixed(ColumnKind.Bool, n, vals, null, 0);
        var vb = asm.Rent(bytes + 8);
        am.CopyTo(new Span<byte>(vb.Pointer, bytes));
        return asm.Fixed(ColumnKind.Bool, n, vals, vb, a.NullCount);
    }
}

/// <summary>IS [NOT] NULL: never null itself.</summary>
public sealed class IsNullVExpr(VExpr operand, bool negated) : VExpr
{
    public override ColumnKind Kind => ColumnKind.Bool;
    public override string Describe() => $"({operand.Describe()} IS {(negated ? "NOT " : "")}NULL)";

    public override unsafe IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var asm = ctx.Assembler;
        var a = operand.Eval(ctx);
        var am = Bits.Validity(a, asm);
        var bytes = Bits.Bytes(n);
        var vals = asm.Rent(bytes + 8);
        for (var i = 0; i < bytes; i++)
        {
            var valid = am.IsEmpty ? (byte)0xFF : am[i];
            vals.Pointer[i] = negated ? valid : (byte)~valid;
        }
        return asm.Fixed(ColumnKind.Bool, n, vals, null, 0);
    }
}
