using System.Globalization;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Memory;
using Apache.Arrow;

namespace AiEtl.Engine.Expressions;

/// <summary>Writes string results row by row into pooled buffers (for string-producing functions and casts).</summary>
internal sealed unsafe class StringOut
{
    private readonly BatchAssembler _asm;
    private readonly int _n;
    private readonly NativeBuffer _offsets;
    private NativeBuffer _data;
    private readonly NativeBuffer _validity;
    private int _pos;
    private int _row;
    private int _nulls;

    public StringOut(BatchAssembler asm, int n, int bytesHint)
    {
        _asm = asm;
        _n = n;
        _offsets = asm.Rent((n + 1) * 4);
        _data = asm.Pool.Rent(Math.Max(bytesHint, 64));
        _validity = asm.Rent(Bits.Bytes(n) + 8);
        new Span<byte>(_validity.Pointer, Bits.Bytes(n)).Clear();
        ((int*)_offsets.Pointer)[0] = 0;
    }

    public void Null()
    {
        _nulls++;
        ((int*)_offsets.Pointer)[++_row] = _pos;
    }

    public void Add(ReadOnlySpan<byte> utf8)
    {
        Ensure(utf8.Length);
        utf8.CopyTo(new Span<byte>(_data.Pointer + _pos, utf8.Length));
        _pos += utf8.Length;
        Bits.Set(_validity.Pointer, _row);
        ((int*)_offsets.Pointer)[++_row] = _pos;
    }

    public void Add(string s)
    {
        var max = Encoding.UTF8.GetMaxByteCount(s.Length);
        Ensure(max);
        var w = Encoding.UTF8.GetBytes(s, new Span<byte>(_data.Pointer + _pos, max));
        _pos += w;
        Bits.Set(_validity.Pointer, _row);
        ((int*)_offsets.Pointer)[++_row] = _pos;
    }

    /// <summary>Room for up to <paramref name="max"/> bytes of the next value; finish it with <see cref="Commit"/>.</summary>
    public Span<byte> Reserve(int max)
    {
        Ensure(max);
        return new Span<byte>(_data.Pointer + _pos, max);
    }

    /// <summary>Ends the value written into <see cref="Reserve"/> with its length.</summary>
    public void Commit(int written)
    {
        _pos += written;
        Bits.Set(_validity.Pointer, _row);
        ((int*)_offsets.Pointer)[++_row] = _pos;
    }

    private void Ensure(int more)
    {
        if (_pos + more <= _data.Capacity) return;
        var bigger = _asm.Pool.Rent(Math.Max(_data.Capacity * 2, _pos + more));
        Buffer.MemoryCopy(_data.Pointer, bigger.Pointer, bigger.Capacity, _pos);
        _asm.Pool.Return(_data);
        _data = bigger;
    }

    public IArrowArray Finish()
    {
        if (_row != _n) throw new InvalidOperationException($"string output has {_row} rows, expected {_n}");
        // Hand the data buffer to the batch (it was rented outside the assembler to allow growth).
        var owned = _data;
        var arr = _asm.String(_n, _offsets, owned, _pos, _nulls > 0 ? _validity : null, _nulls);
        _asm.Adopt(owned);
        return arr;
    }
}

/// <summary>CAST between the engine's types; a value that cannot be converted is a row error.</summary>
public sealed class CastVExpr(VExpr operand, ColumnKind to) : VExpr
{
    public override ColumnKind Kind => to;
    public override string Describe() => $"CAST({operand.Describe()} AS {ColumnTypes.Name(to)})";

    public override unsafe IArrowArray Eval(EvalContext ctx)
    {
        var a = operand.Eval(ctx);
        var from = operand.Kind;
        if (from == to) return a;
        var n = ctx.Length;
        var asm = ctx.Assembler;
        if (to == ColumnKind.String)
        {
            var so = new StringOut(asm, n, n * 12);
            for (var i = 0; i < n; i++)
            {
                var v = Values.Get(a, i);
                if (v == null) so.Null(); else so.Add(Values.Format(v, from));
            }
            return so.Finish();
        }
        var b = new ColumnBuilder(to, n, asm.Pool);
        for (var i = 0; i < n; i++)
        {
            var v = Values.Get(a, i);
            if (v == null) { b.AppendNull(); continue; }
            if (!Values.TryConvert(v, from, to, out var r, out var err))
            {
                ctx.Errors.Add(i, $"cannot cast {Values.Format(v, from)} to {ColumnTypes.Name(to)}: {err}");
                b.AppendNull();
                continue;
            }
            Values.Append(b, r!);
        }
        var owned = new List<NativeBuffer>();
        var arr = b.Build(owned);
        foreach (var o in owned) asm.Adopt(o);
        b.Release();
        return arr;
    }
}

/// <summary>abs(x) on int32, int64 or float64; abs of the most negative integer is a row error (as PostgreSQL).</summary>
public sealed class AbsVExpr(VExpr x) : VExpr
{
    public override ColumnKind Kind => x.Kind;
    public override string Describe() => $"abs({x.Describe()})";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var a = x.Eval(ctx);
        var valid = Bits.Validity(a, ctx.Assembler);
        switch (x.Kind)
        {
            case ColumnKind.Float64:
            {
                var o = new FixedOut<double>(ctx.Assembler, ColumnKind.Float64, n);
                var v = Gather.Values<double>(a);
                for (var i = 0; i < n; i++) if (Bits.Get(valid, i)) o.Set(i, Math.Abs(v[i])); else o.Null(i);
                return o.Finish();
            }
            case ColumnKind.Int32:
            {
                var o = new FixedOut<int>(ctx.Assembler, ColumnKind.Int32, n);
                var v = Gather.Values<int>(a);
                for (var i = 0; i < n; i++)
                {
                    if (!Bits.Get(valid, i)) { o.Null(i); continue; }
                    if (v[i] == int.MinValue) { ctx.Errors.Add(i, "integer out of range in abs"); o.Null(i); continue; }
                    o.Set(i, Math.Abs(v[i]));
                }
                return o.Finish();
            }
            default:
            {
                var o = new FixedOut<long>(ctx.Assembler, ColumnKind.Int64, n);
                var v = Gather.Values<long>(a);
                for (var i = 0; i < n; i++)
                {
                    if (!Bits.Get(valid, i)) { o.Null(i); continue; }
                    if (v[i] == long.MinValue) { ctx.Errors.Add(i, "bigint out of range in abs"); o.Null(i); continue; }
                    o.Set(i, Math.Abs(v[i]));
                }
                return o.Finish();
            }
        }
    }
}

/// <summary>Boxed access to single values (for casts, functions and error reports; not the hot path).</summary>
public static class Values
{
    public static object? Get(IArrowArray a, int i)
    {
        if (a.IsNull(i)) return null;
        return a switch
        {
            Int64Array x => x.GetValue(i),
            Int32Array x => x.GetValue(i),
            DoubleArray x => x.GetValue(i),
            BooleanArray x => x.GetValue(i),
            StringArray x => x.GetString(i),
            TimestampArray x => Gather.Values<long>(x)[i],
            Date32Array x => Gather.Values<int>(x)[i],
            _ => throw new NotSupportedException(a.Data.DataType.Name),
        };
    }

    public static string Format(object v, ColumnKind kind) => kind switch
    {
        ColumnKind.Timestamp => FormatTimestamp((long)v),
        ColumnKind.Date => DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + (int)v).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        ColumnKind.Bool => (bool)v ? "true" : "false",
        ColumnKind.Float64 => FormatDouble((double)v),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture)!,
    };

    /// <summary>Shortest round-trip form with PostgreSQL's spelling: 1e+20, 1e-05, NaN, Infinity, -Infinity.</summary>
    public static string FormatDouble(double d) => d.ToString("R", CultureInfo.InvariantCulture).Replace('E', 'e');

    public static string FormatTimestamp(long micros) =>
        DateTime.UnixEpoch.AddTicks(micros * 10).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    public static void Append(ColumnBuilder b, object v)
    {
        switch (b.Kind)
        {
            case ColumnKind.Bool: b.AppendBool((bool)v); break;
            case ColumnKind.Int32 or ColumnKind.Date: b.AppendInt32(Convert.ToInt32(v, CultureInfo.InvariantCulture)); break;
            case ColumnKind.Int64 or ColumnKind.Timestamp: b.AppendInt64(Convert.ToInt64(v, CultureInfo.InvariantCulture)); break;
            case ColumnKind.Float64: b.AppendDouble(Convert.ToDouble(v, CultureInfo.InvariantCulture)); break;
            case ColumnKind.String: b.AppendString((string)v); break;
        }
    }

    /// <summary>Converts following PostgreSQL: float → int rounds half to even and fails out of range; strings parse strictly.</summary>
    public static bool TryConvert(object v, ColumnKind from, ColumnKind to, out object? result, out string error)
    {
        error = "";
        result = null;
        if (from == to) { result = v; return true; }
        switch (to)
        {
            case ColumnKind.String:
                result = Format(v, from);
                return true;
            case ColumnKind.Int64 or ColumnKind.Int32:
            {
                long l;
                switch (v)
                {
                    case long x: l = x; break;
                    case int x: l = x; break;
                    case bool x: l = x ? 1 : 0; break;
                    case double d:
                        var r = Math.Round(d, MidpointRounding.ToEven);
                        if (!double.IsFinite(r) || r < -9.223372036854775808E18 || r >= 9.223372036854775808E18) { error = "out of range"; return false; }
                        l = (long)r;
                        break;
                    case string s:
                        if (!long.TryParse(s.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) { error = "invalid integer"; return false; }
                        break;
                    default: error = "unsupported conversion"; return false;
                }
                if (to == ColumnKind.Int32)
                {
                    if (l is < int.MinValue or > int.MaxValue) { error = "out of range for int32"; return false; }
                    result = (int)l;
                }
                else result = l;
                return true;
            }
            case ColumnKind.Float64:
                switch (v)
                {
                    case long x: result = (double)x; return true;
                    case int x: result = (double)x; return true;
                    case string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && !double.IsInfinity(d): result = d; return true;
                    case string s:
                        var t = s.Trim().ToLowerInvariant();
                        if (t is "nan") { result = double.NaN; return true; }
                        if (t is "infinity" or "inf") { result = double.PositiveInfinity; return true; }
                        if (t is "-infinity" or "-inf") { result = double.NegativeInfinity; return true; }
                        error = "invalid number";
                        return false;
                    default: error = "unsupported conversion"; return false;
                }
            case ColumnKind.Bool:
                switch (v)
                {
                    case string s:
                        switch (s.Trim().ToLowerInvariant())
                        {
                            case "true" or "t" or "yes" or "y" or "on" or "1": result = true; return true;
                            case "false" or "f" or "no" or "n" or "off" or "0": result = false; return true;
                            default: error = "invalid boolean"; return false;
                        }
                    case long x: result = x != 0; return true;
                    case int x: result = x != 0; return true;
                    default: error = "unsupported conversion"; return false;
                }
            case ColumnKind.Timestamp:
                switch (v)
                {
                    case int days when from == ColumnKind.Date: result = days * 86_400_000_000L; return true;
                    case string s when DateTimeOffset.TryParse(s.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var dto):
                        result = (dto.UtcTicks - DateTime.UnixEpoch.Ticks) / 10;
                        return true;
                    default: error = from == ColumnKind.String ? "invalid timestamp" : "unsupported conversion"; return false;
                }
            case ColumnKind.Date:
                switch (v)
                {
                    case long micros when from == ColumnKind.Timestamp: result = (int)Math.Floor(micros / 86_400_000_000.0); return true;
                    case string s when DateOnly.TryParseExact(s.Trim(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d):
                        result = d.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;
                        return true;
                    default: error = from == ColumnKind.String ? "invalid date" : "unsupported conversion"; return false;
                }
        }
        error = "unsupported conversion";
        return false;
    }
}
