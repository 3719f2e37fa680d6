using System.Globalization;
using System.Runtime.Intrinsics;
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
public sealed class ArithVExpr(string op, VExpr left, VExpr right, ColumnKind kind) : VExpr
{
    public override ColumnKind Kind => kind;
    public override string Describe() => $"({left.Describe()} {op} {right.Describe()})";

    public override unsafe IArrowArray Eval(EvalContext ctx)
    {
        var a = left.Eval(ctx);
        var b = right.Eval(ctx);
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

/// <summary>= &lt;&gt; &lt; &lt;= &gt; &gt;= producing a boolean with SQL null semantics.</summary>
public sealed class CompareVExpr(string op, VExpr left, VExpr right, ColumnKind operandKind) : VExpr
{
    public override ColumnKind Kind => ColumnKind.Bool;
    public override string Describe() => $"({left.Describe()} {op} {right.Describe()})";

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
            switch (operandKind)
            {
                case ColumnKind.Int32 or ColumnKind.Date:
                    CompareConst(Gather.Values<int>(a), Convert.ToInt32(lit.Value, CultureInfo.InvariantCulture), dst);
                    break;
                case ColumnKind.Float64:
                    CompareConst(Gather.Values<double>(a), Convert.ToDouble(lit.Value, CultureInfo.InvariantCulture), dst);
                    break;
                default:
                    CompareConst(Gather.Values<long>(a), Convert.ToInt64(lit.Value, CultureInfo.InvariantCulture), dst);
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
        switch (operandKind)
        {
            case ColumnKind.Float64:
                CompareArrays(Num.F64(a, ctx), Num.F64(b, ctx), dst);
                break;
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
                    if (Test(sa.GetBytes(i).SequenceCompareTo(sb.GetBytes(i)))) Bits.Set(dst, i);
                break;
            }
            case ColumnKind.Bool:
            {
                var xa = Bits.BoolValues(a, asm);
                var xb = Bits.BoolValues(b, asm);
                for (var i = 0; i < n; i++)
                    if (Test(Bits.Get(xa, i).CompareTo(Bits.Get(xb, i)))) Bits.Set(dst, i);
                break;
            }
        }
        return asm.Fixed(ColumnKind.Bool, n, outBuf, validity, nulls);
    }

    private bool Test(int c) => op switch
    {
        "=" => c == 0,
        "<>" => c != 0,
        "<" => c < 0,
        "<=" => c <= 0,
        ">" => c > 0,
        _ => c >= 0,
    };

    private unsafe void CompareArrays<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, byte* dst) where T : unmanaged, IComparable<T>
    {
        for (var i = 0; i < x.Length; i++)
            if (Test(x[i].CompareTo(y[i]))) dst[i >> 3] |= (byte)(1 << (i & 7));
    }

    private unsafe void CompareConst<T>(ReadOnlySpan<T> x, T c, byte* dst) where T : unmanaged, IComparable<T>, System.Numerics.INumber<T>
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.Count <= 32)
        {
            var w = Vector256<T>.Count;
            var vc = Vector256.Create(c);
            fixed (T* p = x)
            {
                // Process 8 vectors' worth of lanes only when they land on whole bytes.
                for (; i + w <= x.Length && (w % 8 == 0 || w == 4); i += w)
                {
                    var v = Vector256.Load(p + i);
                    var m = op switch
                    {
                        "=" => Vector256.Equals(v, vc),
                        "<>" => ~Vector256.Equals(v, vc),
                        "<" => Vector256.LessThan(v, vc),
                        "<=" => Vector256.LessThanOrEqual(v, vc),
                        ">" => Vector256.GreaterThan(v, vc),
                        _ => Vector256.GreaterThanOrEqual(v, vc),
                    };
                    var bits = m.ExtractMostSignificantBits();
                    if (w >= 8)
                    {
                        for (var k = 0; k < w / 8; k++) dst[(i >> 3) + k] = (byte)(bits >> (8 * k));
                    }
                    else
                    {
                        dst[i >> 3] |= (byte)(bits << (i & 7));
                    }
                }
            }
        }
        for (; i < x.Length; i++)
            if (Test(x[i].CompareTo(c))) dst[i >> 3] |= (byte)(1 << (i & 7));
    }
}

/// <summary>AND / OR with three-valued logic.</summary>
public sealed class LogicVExpr(string op, VExpr left, VExpr right) : VExpr
{
    public override ColumnKind Kind => ColumnKind.Bool;
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
