using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Expressions;

/// <summary>A LIKE pattern split into literal runs, <c>_</c> (one character) and <c>%</c> (any run).</summary>
internal sealed class LikePattern
{
    public const byte Lit = 0, One = 1, Many = 2;
    public readonly List<(byte Kind, int Start, int Len)> Tokens = [];
    public byte[] Literals = new byte[64];
    private int _litLen;

    /// <summary>Tokenizes <paramref name="pattern"/> (UTF-8); false with an error for a trailing escape character.</summary>
    public bool TryLoad(ReadOnlySpan<byte> pattern, int escape, out string error)
    {
        Tokens.Clear();
        _litLen = 0;
        error = "";
        if (Literals.Length < pattern.Length) Literals = new byte[pattern.Length * 2];
        var pos = 0;
        while (pos < pattern.Length)
        {
            var len = Utf8Util.SeqLen(pattern[pos]);
            if (pos + len > pattern.Length) len = pattern.Length - pos;
            var ch = pattern.Slice(pos, len);
            var cp = len == 1 ? ch[0] : Rune.DecodeFromUtf8(ch, out var r, out _) == OperationStatus.Done ? r.Value : -2;
            pos += len;
            if (cp == escape)
            {
                if (pos >= pattern.Length)
                {
                    error = "LIKE pattern must not end with escape character";
                    return false;
                }
                var l2 = Math.Min(Utf8Util.SeqLen(pattern[pos]), pattern.Length - pos);
                AddLiteral(pattern.Slice(pos, l2));
                pos += l2;
            }
            else if (cp == '%')
            {
                if (Tokens.Count == 0 || Tokens[^1].Kind != Many) Tokens.Add((Many, 0, 0));
            }
            else if (cp == '_') Tokens.Add((One, 0, 0));
            else AddLiteral(ch);
        }
        return true;
    }

    private void AddLiteral(ReadOnlySpan<byte> ch)
    {
        ch.CopyTo(Literals.AsSpan(_litLen));
        if (Tokens.Count > 0 && Tokens[^1].Kind == Lit && Tokens[^1].Start + Tokens[^1].Len == _litLen)
            Tokens[^1] = (Lit, Tokens[^1].Start, Tokens[^1].Len + ch.Length);
        else Tokens.Add((Lit, _litLen, ch.Length));
        _litLen += ch.Length;
    }

    private ReadOnlySpan<byte> L(int k) => Literals.AsSpan(Tokens[k].Start, Tokens[k].Len);

    public bool HasOne => Tokens.Any(t => t.Kind == One);

    /// <summary>Matches a whole string. Patterns without <c>_</c> use substring search; others backtrack on the last <c>%</c>.</summary>
    public bool Match(ReadOnlySpan<byte> s)
    {
        var toks = Tokens;
        if (!HasOne)
        {
            if (toks.Count == 0) return s.IsEmpty;
            if (toks.Count == 1) return toks[0].Kind == Many || s.SequenceEqual(L(0));
            var first = 0;
            var last = toks.Count - 1;
            var pos = 0;
            var end = s.Length;
            if (toks[0].Kind == Lit)
            {
                if (!s.StartsWith(L(0))) return false;
                pos = toks[0].Len;
                first = 1;
            }
            if (toks[last].Kind == Lit)
            {
                if (!s.EndsWith(L(last)) || s.Length - toks[last].Len < pos) return false;
                end = s.Length - toks[last].Len;
                last--;
            }
            for (var k = first; k <= last; k++)
            {
                if (toks[k].Kind != Lit) continue;
                var at = s[pos..end].IndexOf(L(k));
                if (at < 0) return false;
                pos += at + toks[k].Len;
            }
            return true;
        }
        int si = 0, ti = 0, starT = -1, starS = 0;
        while (true)
        {
            if (ti < toks.Count)
            {
                var t = toks[ti];
                if (t.Kind == Many) { starT = ++ti; starS = si; continue; }
                if (t.Kind == One)
                {
                    if (si < s.Length) { si += Utf8Util.SeqLen(s[si]); ti++; continue; }
                }
                else if (s[si..].StartsWith(L(ti))) { si += t.Len; ti++; continue; }
            }
            else if (si >= s.Length) return true;
            if (starT < 0 || starS >= s.Length) return false;
            starS += Utf8Util.SeqLen(s[starS]);
            si = starS;
            ti = starT;
        }
    }
}

/// <summary>[NOT] LIKE / ILIKE. ILIKE lower-cases both sides (invariant simple case mapping) first.</summary>
public sealed class LikeVExpr : VExpr
{
    private readonly VExpr _s;
    private readonly VExpr _pattern;
    private readonly int _escape;
    private readonly bool _ignoreCase;
    private readonly bool _negated;
    private readonly LikePattern? _const;

    private LikeVExpr(VExpr s, VExpr pattern, int escape, bool ignoreCase, bool negated, LikePattern? compiled)
    {
        _s = s;
        _pattern = pattern;
        _escape = escape;
        _ignoreCase = ignoreCase;
        _negated = negated;
        _const = compiled;
    }

    /// <summary>Compiles a constant pattern now, so a bad one is a plan-time error at <paramref name="patternPos"/>.</summary>
    public static LikeVExpr Create(VExpr s, VExpr pattern, int escape, bool ignoreCase, bool negated, int patternPos)
    {
        LikePattern? compiled = null;
        if (pattern is LiteralVExpr { Value: string } lit)
        {
            compiled = new LikePattern();
            var bytes = ignoreCase ? Lower(lit.Utf8) : lit.Utf8;
            if (!compiled.TryLoad(bytes, ignoreCase && escape > 0 ? Rune.ToLowerInvariant(new Rune(escape)).Value : escape, out var error))
                throw new ExpressionException(error, patternPos);
        }
        return new LikeVExpr(s, pattern, escape, ignoreCase, negated, compiled);
    }

    private static byte[] Lower(ReadOnlySpan<byte> v)
    {
        var buf = new byte[v.Length * 2 + 4];
        return buf.AsSpan(0, CaseMapVExpr.Map(v, buf, upper: false)).ToArray();
    }

    public override ColumnKind Kind => ColumnKind.Bool;

    public override string Describe()
    {
        var esc = _escape == '\\' ? "" : _escape < 0 ? " ESCAPE ''" : $" ESCAPE '{char.ConvertFromUtf32(_escape)}'";
        return $"({_s.Describe()} {(_negated ? "NOT " : "")}{(_ignoreCase ? "ILIKE" : "LIKE")} {_pattern.Describe()}{esc})";
    }

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(_s, ctx);
        var pat = _const == null ? StrCol.Of(_pattern, ctx) : default;
        var rowPattern = _const ?? new LikePattern();
        var escape = _ignoreCase && _escape > 0 ? Rune.ToLowerInvariant(new Rune(_escape)).Value : _escape;
        var o = new BoolOut(ctx.Assembler, n);
        byte[]? scratch = null;
        byte[]? patScratch = null;
        try
        {
            for (var i = 0; i < n; i++)
            {
                if (src.IsNull(i) || (_const == null && pat.IsNull(i))) { o.Null(i); continue; }
                var v = src.Get(i);
                if (_ignoreCase)
                {
                    Ensure(ref scratch, v.Length * 2 + 4);
                    v = scratch.AsSpan(0, CaseMapVExpr.Map(v, scratch, upper: false));
                }
                if (_const == null)
                {
                    var p = pat.Get(i);
                    if (_ignoreCase)
                    {
                        Ensure(ref patScratch, p.Length * 2 + 4);
                        p = patScratch.AsSpan(0, CaseMapVExpr.Map(p, patScratch, upper: false));
                    }
                    if (!rowPattern.TryLoad(p, escape, out var error))
                    {
                        ctx.Errors.Add(i, error);
                        o.Null(i);
                        continue;
                    }
                }
                o.Set(i, rowPattern.Match(v) != _negated);
            }
        }
        finally
        {
            if (scratch != null) ArrayPool<byte>.Shared.Return(scratch);
            if (patScratch != null) ArrayPool<byte>.Shared.Return(patScratch);
        }
        return o.Finish();
    }

    private static void Ensure([System.Diagnostics.CodeAnalysis.NotNull] ref byte[]? scratch, int need)
    {
        if (scratch != null && scratch.Length >= need) return;
        if (scratch != null) ArrayPool<byte>.Shared.Return(scratch);
        scratch = ArrayPool<byte>.Shared.Rent(need);
    }
}

/// <summary>
/// PostgreSQL-style regular expressions on .NET <see cref="Regex"/>: flags i c g n s x; <c>.</c> matches a
/// newline and <c>$</c> only the end (unless flag n); <c>\m \M \y \Y \Z</c> and <c>[[:alpha:]]</c>-style
/// classes are translated; CultureInvariant; every match has a timeout (a row error when reached).
/// </summary>
internal sealed class PosixRegex
{
    // Wall-clock, so it also counts time the thread was descheduled: 500 ms sent ordinary rows to dead letters on a
    // loaded 2-core machine (q21's URL pattern, seen once in CI-like runs). 2 s still stops catastrophic backtracking.
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);
    private readonly Dictionary<string, Regex> _cache = [];

    public RegexOptions Options { get; }
    public bool Global { get; }
    public Regex? Constant { get; }

    private PosixRegex(RegexOptions options, bool global, Regex? constant)
    {
        Options = options;
        Global = global;
        Constant = constant;
    }

    public static PosixRegex Compile(VExpr pattern, string flags, int pos, bool allowGlobal)
    {
        var options = RegexOptions.CultureInvariant;
        var global = false;
        var newline = false;
        var ignoreCase = false;
        foreach (var f in flags)
        {
            switch (f)
            {
                case 'i': ignoreCase = true; break;
                case 'c': ignoreCase = false; break;
                case 'g' when allowGlobal: global = true; break;
                case 'n' or 'm': newline = true; break;
                case 's': newline = false; break;
                case 'x': options |= RegexOptions.IgnorePatternWhitespace; break;
                default: throw new ExpressionException($"invalid regular expression option \"{f}\"", pos);
            }
        }
        if (ignoreCase) options |= RegexOptions.IgnoreCase;
        options |= newline ? RegexOptions.Multiline : RegexOptions.Singleline;
        Regex? constant = null;
        if (pattern is LiteralVExpr { Value: string p })
        {
            try
            {
                constant = new Regex(Translate(p, newline), options, Timeout);
            }
            catch (ArgumentException e)
            {
                throw new ExpressionException($"invalid regular expression '{p}': {e.Message}", pos);
            }
        }
        return new PosixRegex(options, global, constant);
    }

    /// <summary>The regex for a row's pattern (cached); null with an error when it does not compile.</summary>
    public Regex? ForRow(string pattern, out string error)
    {
        error = "";
        lock (_cache)
        {
            if (_cache.TryGetValue(pattern, out var r)) return r;
        }
        try
        {
            var r = new Regex(Translate(pattern, (Options & RegexOptions.Multiline) != 0), Options, Timeout);
            lock (_cache)
            {
                if (_cache.Count >= 256) _cache.Clear();
                _cache[pattern] = r;
            }
            return r;
        }
        catch (ArgumentException e)
        {
            error = $"invalid regular expression '{pattern}': {e.Message}";
            return null;
        }
    }

    private static readonly Dictionary<string, string> PosixClasses = new()
    {
        ["alpha"] = @"\p{L}", ["digit"] = "0-9", ["alnum"] = @"\p{L}\p{Nd}", ["upper"] = @"\p{Lu}", ["lower"] = @"\p{Ll}",
        ["space"] = @"\s", ["blank"] = @" \t", ["punct"] = @"\p{P}\p{S}", ["xdigit"] = "0-9A-Fa-f", ["word"] = @"\w", ["cntrl"] = @"\p{Cc}",
    };

    /// <summary>Rewrites the PostgreSQL-only syntax into .NET syntax.</summary>
    public static string Translate(string p, bool newlineSensitive)
    {
        var sb = new StringBuilder(p.Length + 8);
        var inClass = false;
        for (var i = 0; i < p.Length; i++)
        {
            var c = p[i];
            if (inClass)
            {
                if (c == '[' && i + 1 < p.Length && p[i + 1] == ':')
                {
                    var close = p.IndexOf(":]", i + 2, StringComparison.Ordinal);
                    if (close > 0 && PosixClasses.TryGetValue(p[(i + 2)..close], out var cls))
                    {
                        sb.Append(cls);
                        i = close + 1;
                        continue;
                    }
                }
                if (c == '\\' && i + 1 < p.Length) { sb.Append(c).Append(p[++i]); continue; }
                if (c == ']') inClass = false;
                if (c == '[') { sb.Append(@"\["); continue; }
                sb.Append(c);
                continue;
            }
            switch (c)
            {
                case '\\' when i + 1 < p.Length:
                {
                    var e = p[++i];
                    sb.Append(e switch
                    {
                        'm' => @"\b(?=\w)",
                        'M' => @"\b(?<=\w)",
                        'y' => @"\b",
                        'Y' => @"\B",
                        'Z' => @"\z",
                        _ => "\\" + e,
                    });
                    break;
                }
                case '$':
                    sb.Append(newlineSensitive ? "(?=\n|\\z)" : @"\z");
                    break;
                case '[':
                    inClass = true;
                    sb.Append(c);
                    // A ']' right after '[' or '[^' is a literal member.
                    if (i + 1 < p.Length && p[i + 1] == '^') sb.Append(p[++i]);
                    if (i + 1 < p.Length && p[i + 1] == ']') { sb.Append(@"\]"); i++; }
                    break;
                default:
                    sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }
}

/// <summary>Decodes UTF-8 rows into a reusable char buffer for <see cref="Regex"/>.</summary>
internal sealed class CharScratch : IDisposable
{
    private char[] _buf = ArrayPool<char>.Shared.Rent(256);

    public ReadOnlySpan<char> Decode(ReadOnlySpan<byte> utf8)
    {
        if (_buf.Length < utf8.Length)
        {
            ArrayPool<char>.Shared.Return(_buf);
            _buf = ArrayPool<char>.Shared.Rent(utf8.Length);
        }
        return _buf.AsSpan(0, Encoding.UTF8.GetChars(utf8, _buf));
    }

    public void Dispose() => ArrayPool<char>.Shared.Return(_buf);
}

/// <summary>regexp_like(s, pattern [, flags]).</summary>
public sealed class RegexpLikeVExpr : RowFuncVExpr
{
    private readonly VExpr _s;
    private readonly VExpr _pattern;
    private readonly PosixRegex _regex;

    internal RegexpLikeVExpr(VExpr s, VExpr pattern, PosixRegex regex) : base("regexp_like", [s, pattern], ColumnKind.Bool)
    {
        _s = s;
        _pattern = pattern;
        _regex = regex;
    }

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(_s, ctx);
        var pat = StrCol.Of(_pattern, ctx);
        var o = new BoolOut(ctx.Assembler, n);
        using var chars = new CharScratch();
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i) || pat.IsNull(i)) { o.Null(i); continue; }
            var re = _regex.Constant;
            var error = "";
            if (re == null) re = _regex.ForRow(Encoding.UTF8.GetString(pat.Get(i)), out error);
            if (re == null) { ctx.Errors.Add(i, error); o.Null(i); continue; }
            try
            {
                o.Set(i, re.IsMatch(chars.Decode(src.Get(i))));
            }
            catch (RegexMatchTimeoutException)
            {
                ctx.Errors.Add(i, $"regular expression timed out after {PosixRegex.Timeout.TotalMilliseconds} ms");
                o.Null(i);
            }
        }
        return o.Finish();
    }
}

/// <summary>
/// regexp_replace(s, pattern, replacement [, flags]): the first match, or all with flag g. In the replacement
/// <c>\1</c>…<c>\9</c> insert a group, <c>\&amp;</c> the whole match, <c>\\</c> a backslash (as PostgreSQL).
/// </summary>
public sealed class RegexpReplaceVExpr : RowFuncVExpr
{
    private readonly VExpr _s;
    private readonly VExpr _pattern;
    private readonly VExpr _replacement;
    private readonly PosixRegex _regex;
    private readonly List<(string Text, int Group)>? _constReplacement;

    internal RegexpReplaceVExpr(VExpr s, VExpr pattern, VExpr replacement, PosixRegex regex) : base("regexp_replace", [s, pattern, replacement], ColumnKind.String)
    {
        _s = s;
        _pattern = pattern;
        _replacement = replacement;
        _regex = regex;
        if (replacement is LiteralVExpr { Value: string r }) _constReplacement = ParseReplacement(r);
    }

    internal static List<(string Text, int Group)> ParseReplacement(string r)
    {
        var parts = new List<(string, int)>();
        var sb = new StringBuilder();
        for (var i = 0; i < r.Length; i++)
        {
            if (r[i] == '\\' && i + 1 < r.Length)
            {
                var c = r[i + 1];
                if (c is >= '1' and <= '9' || c == '&')
                {
                    if (sb.Length > 0) { parts.Add((sb.ToString(), -1)); sb.Clear(); }
                    parts.Add(("", c == '&' ? 0 : c - '0'));
                    i++;
                    continue;
                }
                if (c == '\\') { sb.Append('\\'); i++; continue; }
            }
            sb.Append(r[i]);
        }
        if (sb.Length > 0) parts.Add((sb.ToString(), -1));
        return parts;
    }

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(_s, ctx);
        var pat = StrCol.Of(_pattern, ctx);
        var rep = StrCol.Of(_replacement, ctx);
        var o = new StringOut(ctx.Assembler, n, src.Bytes(n) + 16);
        var sb = new StringBuilder();
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i) || pat.IsNull(i) || rep.IsNull(i)) { o.Null(); continue; }
            var re = _regex.Constant;
            var error = "";
            if (re == null) re = _regex.ForRow(Encoding.UTF8.GetString(pat.Get(i)), out error);
            if (re == null) { ctx.Errors.Add(i, error); o.Null(); continue; }
            var replacement = _constReplacement ?? ParseReplacement(Encoding.UTF8.GetString(rep.Get(i)));
            var input = Encoding.UTF8.GetString(src.Get(i));
            try
            {
                var m = re.Match(input);
                if (!m.Success) { o.Add(src.Get(i)); continue; }
                sb.Clear();
                var last = 0;
                while (m.Success)
                {
                    sb.Append(input, last, m.Index - last);
                    foreach (var (text, group) in replacement)
                    {
                        if (group < 0) sb.Append(text);
                        else if (group < m.Groups.Count) sb.Append(m.Groups[group].ValueSpan);
                    }
                    last = m.Index + m.Length;
                    if (!_regex.Global) break;
                    m = m.NextMatch();
                }
                sb.Append(input, last, input.Length - last);
                var dst = o.Reserve(Encoding.UTF8.GetMaxByteCount(sb.Length));
                var w = 0;
                foreach (var chunk in sb.GetChunks()) w += Encoding.UTF8.GetBytes(chunk.Span, dst[w..]);
                o.Commit(w);
            }
            catch (RegexMatchTimeoutException)
            {
                ctx.Errors.Add(i, $"regular expression timed out after {PosixRegex.Timeout.TotalMilliseconds} ms");
                o.Null();
            }
        }
        return o.Finish();
    }
}
