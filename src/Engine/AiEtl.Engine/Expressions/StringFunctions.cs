using System.Buffers;
using System.Text;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Expressions;

/// <summary>Base of functions written as a loop over rows; every argument is a bound expression.</summary>
public abstract class RowFuncVExpr(string name, IReadOnlyList<VExpr> args, ColumnKind kind) : VExpr
{
    protected IReadOnlyList<VExpr> Args => args;
    protected string FunctionName => name;
    public override ColumnKind Kind => kind;
    public override string Describe() => $"{name}({string.Join(", ", args.Select(a => a.Describe()))})";
}

/// <summary>upper / lower on UTF-8: ASCII rows are mapped in place, others rune by rune (invariant simple case mapping).</summary>
public sealed class CaseMapVExpr(bool upper, VExpr s) : RowFuncVExpr(upper ? "upper" : "lower", [s], ColumnKind.String)
{
    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(s, ctx);
        var o = new StringOut(ctx.Assembler, n, src.Bytes(n) + 16);
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i)) { o.Null(); continue; }
            var v = src.Get(i);
            var dst = o.Reserve(v.Length * 2 + 4);
            o.Commit(Map(v, dst, upper));
        }
        return o.Finish();
    }

    internal static int Map(ReadOnlySpan<byte> v, Span<byte> dst, bool upper)
    {
        if (Ascii.IsValid(v))
        {
            if (upper) Ascii.ToUpper(v, dst, out _);
            else Ascii.ToLower(v, dst, out _);
            return v.Length;
        }
        var written = 0;
        var pos = 0;
        while (pos < v.Length)
        {
            if (Rune.DecodeFromUtf8(v[pos..], out var r, out var used) != OperationStatus.Done)
            {
                dst[written++] = v[pos++];
                continue;
            }
            pos += used;
            r = upper ? Rune.ToUpperInvariant(r) : Rune.ToLowerInvariant(r);
            written += r.EncodeToUtf8(dst[written..]);
        }
        return written;
    }
}

/// <summary>length(s): characters (code points), not bytes.</summary>
public sealed class LengthVExpr(VExpr s) : RowFuncVExpr("length", [s], ColumnKind.Int32)
{
    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(s, ctx);
        var o = new FixedOut<int>(ctx.Assembler, ColumnKind.Int32, n);
        for (var i = 0; i < n; i++)
            if (src.IsNull(i)) o.Null(i); else o.Set(i, Utf8Util.CharCount(src.Get(i)));
        return o.Finish();
    }
}

/// <summary>substring(s, from [, count]) in characters, 1-based, as PostgreSQL: positions before 1 shorten the count.</summary>
public sealed class SubstringVExpr(VExpr s, VExpr from, VExpr? count) : RowFuncVExpr("substring", count == null ? [s, from] : [s, from, count], ColumnKind.String)
{
    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(s, ctx);
        var f = IntCol.Of(from, ctx);
        var c = count == null ? default : IntCol.Of(count, ctx);
        var o = new StringOut(ctx.Assembler, n, src.Bytes(n) + 16);
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i) || f.IsNull(i) || (count != null && c.IsNull(i))) { o.Null(); continue; }
            var start = f.Get(i);
            long end;
            if (count == null) end = long.MaxValue;
            else
            {
                var len = c.Get(i);
                if (len < 0)
                {
                    ctx.Errors.Add(i, "negative substring length not allowed");
                    o.Null();
                    continue;
                }
                end = start > long.MaxValue - len ? long.MaxValue : start + len;
            }
            var first = Math.Max(start, 1);
            if (end <= first) { o.Add(ReadOnlySpan<byte>.Empty); continue; }
            var v = src.Get(i);
            int b0, b1;
            if (Ascii.IsValid(v))
            {
                b0 = (int)Math.Min(first - 1, v.Length);
                b1 = (int)Math.Min(end - 1, v.Length);
            }
            else
            {
                b0 = Utf8Util.ByteOffset(v, first - 1);
                b1 = end == long.MaxValue ? v.Length : b0 + Utf8Util.ByteOffset(v[b0..], end - first);
            }
            o.Add(v[b0..b1]);
        }
        return o.Finish();
    }
}

/// <summary>btrim / ltrim / rtrim: removes the given characters (default: spaces only, as PostgreSQL).</summary>
public sealed class TrimVExpr(string name, int mode, VExpr s, VExpr? chars) : RowFuncVExpr(name, chars == null ? [s] : [s, chars], ColumnKind.String)
{
    public const int Both = 3, Leading = 1, Trailing = 2;
    private static readonly byte[] Space = [(byte)' '];

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(s, ctx);
        var set = chars == null ? default : StrCol.Of(chars, ctx);
        var o = new StringOut(ctx.Assembler, n, src.Bytes(n) + 16);
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i) || (chars != null && set.IsNull(i))) { o.Null(); continue; }
            o.Add(Trim(src.Get(i), chars == null ? Space : set.Get(i), mode));
        }
        return o.Finish();
    }

    internal static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> v, ReadOnlySpan<byte> set, int mode)
    {
        if (set.IsEmpty) return v;
        var asciiSet = Ascii.IsValid(set);
        var start = 0;
        var end = v.Length;
        if ((mode & Leading) != 0)
        {
            while (start < end)
            {
                var len = Utf8Util.SeqLen(v[start]);
                if (start + len > end || !InSet(v.Slice(start, len), set, asciiSet)) break;
                start += len;
            }
        }
        if ((mode & Trailing) != 0)
        {
            while (end > start)
            {
                var b = end - 1;
                while (b > start && (v[b] & 0xC0) == 0x80) b--;
                if (!InSet(v[b..end], set, asciiSet)) break;
                end = b;
            }
        }
        return v[start..end];
    }

    private static bool InSet(ReadOnlySpan<byte> ch, ReadOnlySpan<byte> set, bool asciiSet)
    {
        if (ch.Length == 1) return set.Contains(ch[0]);
        if (asciiSet) return false;
        var pos = 0;
        while (pos < set.Length)
        {
            var len = Utf8Util.SeqLen(set[pos]);
            if (set.Slice(pos, Math.Min(len, set.Length - pos)).SequenceEqual(ch)) return true;
            pos += len;
        }
        return false;
    }
}

/// <summary>replace(s, from, to): every occurrence; an empty <c>from</c> leaves s unchanged.</summary>
public sealed class ReplaceVExpr(VExpr s, VExpr from, VExpr to) : RowFuncVExpr("replace", [s, from, to], ColumnKind.String)
{
    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(s, ctx);
        var f = StrCol.Of(from, ctx);
        var t = StrCol.Of(to, ctx);
        var o = new StringOut(ctx.Assembler, n, src.Bytes(n) + 16);
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i) || f.IsNull(i) || t.IsNull(i)) { o.Null(); continue; }
            var v = src.Get(i);
            var needle = f.Get(i);
            var with = t.Get(i);
            if (needle.IsEmpty) { o.Add(v); continue; }
            var hits = 0;
            for (var rest = v; ;)
            {
                var k = rest.IndexOf(needle);
                if (k < 0) break;
                hits++;
                rest = rest[(k + needle.Length)..];
            }
            if (hits == 0) { o.Add(v); continue; }
            var dst = o.Reserve(v.Length + hits * (with.Length - needle.Length));
            var w = 0;
            for (var rest = v; ;)
            {
                var k = rest.IndexOf(needle);
                if (k < 0) { rest.CopyTo(dst[w..]); w += rest.Length; break; }
                rest[..k].CopyTo(dst[w..]);
                w += k;
                with.CopyTo(dst[w..]);
                w += with.Length;
                rest = rest[(k + needle.Length)..];
            }
            o.Commit(w);
        }
        return o.Finish();
    }
}

/// <summary>starts_with(s, prefix).</summary>
public sealed class StartsWithVExpr(VExpr s, VExpr prefix) : RowFuncVExpr("starts_with", [s, prefix], ColumnKind.Bool)
{
    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(s, ctx);
        var p = StrCol.Of(prefix, ctx);
        var o = new BoolOut(ctx.Assembler, n);
        for (var i = 0; i < n; i++)
            if (src.IsNull(i) || p.IsNull(i)) o.Null(i); else o.Set(i, src.Get(i).StartsWith(p.Get(i)));
        return o.Finish();
    }
}

/// <summary>strpos(s, sub) = position(sub IN s): 1-based character position of the first occurrence, 0 if none.</summary>
public sealed class StrposVExpr(VExpr s, VExpr sub) : RowFuncVExpr("strpos", [s, sub], ColumnKind.Int32)
{
    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(s, ctx);
        var p = StrCol.Of(sub, ctx);
        var o = new FixedOut<int>(ctx.Assembler, ColumnKind.Int32, n);
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i) || p.IsNull(i)) { o.Null(i); continue; }
            var v = src.Get(i);
            var k = v.IndexOf(p.Get(i));
            o.Set(i, k < 0 ? 0 : Utf8Util.CharCount(v[..k]) + 1);
        }
        return o.Finish();
    }
}

/// <summary>split_part(s, delimiter, n): field n (1-based; negative counts from the end); '' when out of range.</summary>
public sealed class SplitPartVExpr(VExpr s, VExpr delimiter, VExpr index) : RowFuncVExpr("split_part", [s, delimiter, index], ColumnKind.String)
{
    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(s, ctx);
        var d = StrCol.Of(delimiter, ctx);
        var k = IntCol.Of(index, ctx);
        var o = new StringOut(ctx.Assembler, n, src.Bytes(n) / 2 + 16);
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i) || d.IsNull(i) || k.IsNull(i)) { o.Null(); continue; }
            var field = k.Get(i);
            if (field == 0)
            {
                ctx.Errors.Add(i, "field position must not be zero");
                o.Null();
                continue;
            }
            o.Add(Part(src.Get(i), d.Get(i), field));
        }
        return o.Finish();
    }

    internal static ReadOnlySpan<byte> Part(ReadOnlySpan<byte> v, ReadOnlySpan<byte> delim, long field)
    {
        if (delim.IsEmpty) return field is 1 or -1 ? v : [];
        if (field > 0)
        {
            var rest = v;
            for (long f = 1; ; f++)
            {
                var at = rest.IndexOf(delim);
                if (f == field) return at < 0 ? rest : rest[..at];
                if (at < 0) return [];
                rest = rest[(at + delim.Length)..];
            }
        }
        var restBack = v;
        for (long f = -1; ; f--)
        {
            var at = restBack.LastIndexOf(delim);
            if (f == field) return at < 0 ? restBack : restBack[(at + delim.Length)..];
            if (at < 0) return [];
            restBack = restBack[..at];
        }
    }
}

/// <summary>concat(…) skips NULLs (never NULL itself); <c>a || b</c> is NULL when either side is. Arguments are strings.</summary>
public sealed class ConcatVExpr(IReadOnlyList<VExpr> parts, bool skipNulls) : VExpr
{
    public override ColumnKind Kind => ColumnKind.String;
    public override string Describe() => skipNulls ? $"concat({string.Join(", ", parts.Select(p => p.Describe()))})" : $"({string.Join(" || ", parts.Select(p => p.Describe()))})";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var arrays = new IArrowArray?[parts.Count];
        var consts = new byte[]?[parts.Count];
        var total = 16;
        for (var k = 0; k < parts.Count; k++)
        {
            if (parts[k] is LiteralVExpr lit) { consts[k] = lit.Value == null ? null : lit.Utf8; total += (consts[k]?.Length ?? 0) * n; }
            else { arrays[k] = parts[k].Eval(ctx); total += ((StringArray)arrays[k]!).ValueBuffer.Length; }
        }
        var o = new StringOut(ctx.Assembler, n, total);
        for (var i = 0; i < n; i++)
        {
            var len = 0;
            var isNull = false;
            for (var k = 0; k < parts.Count; k++)
            {
                if (arrays[k] is StringArray a)
                {
                    if (a.IsNull(i)) isNull = true; else len += a.GetBytes(i).Length;
                }
                else if (consts[k] is { } c) len += c.Length;
                else isNull = true;
            }
            if (isNull && !skipNulls) { o.Null(); continue; }
            var dst = o.Reserve(len);
            var w = 0;
            for (var k = 0; k < parts.Count; k++)
            {
                ReadOnlySpan<byte> piece = arrays[k] is StringArray a ? (a.IsNull(i) ? [] : a.GetBytes(i)) : consts[k];
                piece.CopyTo(dst[w..]);
                w += piece.Length;
            }
            o.Commit(w);
        }
        return o.Finish();
    }
}
