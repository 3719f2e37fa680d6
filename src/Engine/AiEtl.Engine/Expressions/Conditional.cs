using System.Buffers;
using System.IO.Hashing;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kernels;
using Apache.Arrow;

namespace AiEtl.Engine.Expressions;

/// <summary>
/// Searched CASE, evaluated lazily: each WHEN runs only on the rows no earlier WHEN took, and each result
/// only on the rows that chose it, so <c>CASE WHEN x = 0 THEN 0 ELSE 1 / x END</c> never divides by zero.
/// A NULL condition counts as false. Every result has already been cast to <see cref="Kind"/>.
/// </summary>
public sealed class CaseVExpr(IReadOnlyList<(VExpr When, VExpr Then)> whens, VExpr? otherwise, ColumnKind kind) : VExpr
{
    public override ColumnKind Kind => kind;

    public override string Describe() =>
        "CASE " + string.Join(" ", whens.Select(w => $"WHEN {w.When.Describe()} THEN {w.Then.Describe()}")) + (otherwise != null ? $" ELSE {otherwise.Describe()}" : "") + " END";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var asm = ctx.Assembler;
        var part = ArrayPool<int>.Shared.Rent(Math.Max(n, 1));
        var remaining = ArrayPool<int>.Shared.Rent(Math.Max(n, 1));
        var index = ArrayPool<int>.Shared.Rent(Math.Max(n, 1));
        try
        {
            var elsePart = otherwise != null ? whens.Count : -1;
            for (var i = 0; i < n; i++) remaining[i] = i;
            var left = n;
            for (var k = 0; k < whens.Count && left > 0; k++)
            {
                var cond = Subset.Eval(whens[k].When, ctx, remaining.AsSpan(0, left));
                var values = Bits.BoolValues(cond, asm);
                var valid = Bits.Validity(cond, asm);
                var keep = 0;
                for (var j = 0; j < left; j++)
                {
                    if (Bits.Get(values, j) && Bits.Get(valid, j)) part[remaining[j]] = k;
                    else remaining[keep++] = remaining[j];
                }
                left = keep;
            }
            for (var j = 0; j < left; j++) part[remaining[j]] = elsePart;

            var branches = whens.Count + 1;
            var parts = new IArrowArray?[branches];
            var single = -2;
            for (var b = 0; b < branches; b++)
            {
                var result = b < whens.Count ? whens[b].Then : otherwise;
                var bIndex = b == whens.Count ? elsePart : b;
                if (result == null) continue;
                var count = 0;
                for (var i = 0; i < n; i++)
                    if (part[i] == bIndex) { index[i] = count; remaining[count++] = i; }
                if (count == 0) continue;
                if (count == n) single = b;
                parts[b] = Subset.Eval(result, ctx, remaining.AsSpan(0, count));
            }
            if (single >= 0) return parts[single]!;
            return Subset.Merge(kind, n, parts, part.AsSpan(0, n), index.AsSpan(0, n), asm);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(part);
            ArrayPool<int>.Shared.Return(remaining);
            ArrayPool<int>.Shared.Return(index);
        }
    }
}

/// <summary>COALESCE, lazy: argument k is evaluated only on the rows where every earlier argument was NULL.</summary>
public sealed class CoalesceVExpr(IReadOnlyList<VExpr> args, ColumnKind kind) : VExpr
{
    public override ColumnKind Kind => kind;
    public override string Describe() => $"coalesce({string.Join(", ", args.Select(a => a.Describe()))})";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var first = args[0].Eval(ctx);
        if (first.NullCount == 0 || args.Count == 1) return first;
        var part = ArrayPool<int>.Shared.Rent(Math.Max(n, 1));
        var index = ArrayPool<int>.Shared.Rent(Math.Max(n, 1));
        var rows = ArrayPool<int>.Shared.Rent(Math.Max(n, 1));
        try
        {
            var parts = new IArrowArray?[args.Count];
            parts[0] = first;
            var left = 0;
            for (var i = 0; i < n; i++)
            {
                if (first.IsNull(i)) { rows[left++] = i; part[i] = -1; }
                else { part[i] = 0; index[i] = i; }
            }
            for (var k = 1; k < args.Count && left > 0; k++)
            {
                if (args[k] is LiteralVExpr { Value: null }) continue;
                var a = Subset.Eval(args[k], ctx, rows.AsSpan(0, left));
                parts[k] = a;
                var keep = 0;
                for (var j = 0; j < left; j++)
                {
                    if (a.IsNull(j)) rows[keep++] = rows[j];
                    else { part[rows[j]] = k; index[rows[j]] = j; }
                }
                left = keep;
            }
            return Subset.Merge(kind, n, parts, part.AsSpan(0, n), index.AsSpan(0, n), ctx.Assembler);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(part);
            ArrayPool<int>.Shared.Return(index);
            ArrayPool<int>.Shared.Return(rows);
        }
    }
}

/// <summary>NULLIF(a, b): NULL where <c>a = b</c> is true, else <c>a</c> (already cast to the comparison type).</summary>
public sealed class NullIfVExpr(VExpr value, VExpr equal) : VExpr
{
    public override ColumnKind Kind => value.Kind;
    public override string Describe() => $"nullif({value.Describe()}, {equal.Describe()})";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var a = value.Eval(ctx);
        var eq = equal.Eval(ctx);
        var values = Bits.BoolValues(eq, ctx.Assembler);
        var valid = Bits.Validity(eq, ctx.Assembler);
        var part = ArrayPool<int>.Shared.Rent(Math.Max(n, 1));
        var index = ArrayPool<int>.Shared.Rent(Math.Max(n, 1));
        try
        {
            var any = false;
            for (var i = 0; i < n; i++)
            {
                var hit = Bits.Get(values, i) && Bits.Get(valid, i);
                any |= hit;
                part[i] = hit ? -1 : 0;
                index[i] = i;
            }
            if (!any) return a;
            return Subset.Merge(Kind, n, [a], part.AsSpan(0, n), index.AsSpan(0, n), ctx.Assembler);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(part);
            ArrayPool<int>.Shared.Return(index);
        }
    }
}

/// <summary>
/// <c>x [NOT] IN (constants)</c> with a hash set: true when x equals an item; otherwise NULL when x is
/// NULL or the list holds a NULL; otherwise false (NOT IN negates that, NULL staying NULL).
/// Items are already converted to the comparison type; x is cast to it by the binder.
/// </summary>
public sealed class InListVExpr : VExpr
{
    private readonly VExpr _operand;
    private readonly bool _negated;
    private readonly bool _listHasNull;
    private readonly HashSet<long>? _longs;
    private readonly HashSet<double>? _doubles;
    private readonly Utf8Set? _strings;
    private readonly bool[]? _bools;
    private readonly IReadOnlyList<LiteralVExpr> _items;

    public InListVExpr(VExpr operand, IReadOnlyList<LiteralVExpr> items, bool negated)
    {
        _operand = operand;
        _negated = negated;
        _items = items;
        _listHasNull = items.Any(i => i.Value == null);
        var values = items.Where(i => i.Value != null).Select(i => i.Value!).ToList();
        switch (operand.Kind)
        {
            case ColumnKind.String: _strings = new Utf8Set(values.Cast<string>()); break;
            case ColumnKind.Float64: _doubles = [.. values.Select(v => Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture))]; break;
            case ColumnKind.Bool: _bools = [values.Contains(false), values.Contains(true)]; break;
            default: _longs = [.. values.Select(v => Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture))]; break;
        }
    }

    public override ColumnKind Kind => ColumnKind.Bool;
    public override string Describe() => $"({_operand.Describe()} {(_negated ? "NOT " : "")}IN ({string.Join(", ", _items.Select(i => i.Describe()))}))";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var a = _operand.Eval(ctx);
        var valid = Bits.Validity(a, ctx.Assembler);
        var o = new BoolOut(ctx.Assembler, n);
        switch (_operand.Kind)
        {
            case ColumnKind.String:
            {
                var s = StrCol.Of(a, ctx.Assembler);
                for (var i = 0; i < n; i++)
                    if (s.IsNull(i)) o.Null(i); else Put(o, i, _strings!.Contains(s.Get(i)));
                break;
            }
            case ColumnKind.Float64:
            {
                var v = Gather.Values<double>(a);
                for (var i = 0; i < n; i++)
                    if (!Bits.Get(valid, i)) o.Null(i); else Put(o, i, _doubles!.Contains(v[i] == 0 ? 0 : v[i]));
                break;
            }
            case ColumnKind.Bool:
            {
                var v = Bits.BoolValues(a, ctx.Assembler);
                for (var i = 0; i < n; i++)
                    if (!Bits.Get(valid, i)) o.Null(i); else Put(o, i, _bools![Bits.Get(v, i) ? 1 : 0]);
                break;
            }
            case ColumnKind.Int32 or ColumnKind.Date:
            {
                var v = Gather.Values<int>(a);
                for (var i = 0; i < n; i++)
                    if (!Bits.Get(valid, i)) o.Null(i); else Put(o, i, _longs!.Contains(v[i]));
                break;
            }
            default:
            {
                var v = Gather.Values<long>(a);
                for (var i = 0; i < n; i++)
                    if (!Bits.Get(valid, i)) o.Null(i); else Put(o, i, _longs!.Contains(v[i]));
                break;
            }
        }
        return o.Finish();
    }

    private void Put(BoolOut o, int i, bool found)
    {
        if (found) o.Set(i, !_negated);
        else if (_listHasNull) o.Null(i);
        else o.Set(i, _negated);
    }
}

/// <summary>A set of UTF-8 strings looked up by span (no allocation per probe).</summary>
internal sealed class Utf8Set
{
    private readonly byte[][] _items;
    private readonly int[] _slots;
    private readonly int _mask;

    public Utf8Set(IEnumerable<string> values)
    {
        _items = [.. values.Distinct(StringComparer.Ordinal).Select(v => System.Text.Encoding.UTF8.GetBytes(v))];
        var size = 4;
        while (size < _items.Length * 2) size <<= 1;
        _slots = new int[size];
        System.Array.Fill(_slots, -1);
        _mask = size - 1;
        for (var k = 0; k < _items.Length; k++)
        {
            var h = (int)XxHash3.HashToUInt64(_items[k]) & _mask;
            while (_slots[h] >= 0) h = (h + 1) & _mask;
            _slots[h] = k;
        }
    }

    public bool Contains(ReadOnlySpan<byte> s)
    {
        if (_items.Length <= 4)
        {
            foreach (var it in _items) if (s.SequenceEqual(it)) return true;
            return false;
        }
        var h = (int)XxHash3.HashToUInt64(s) & _mask;
        while (_slots[h] >= 0)
        {
            if (s.SequenceEqual(_items[_slots[h]])) return true;
            h = (h + 1) & _mask;
        }
        return false;
    }
}
