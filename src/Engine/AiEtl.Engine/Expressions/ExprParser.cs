using System.Globalization;
using System.Text;
using AiEtl.Engine.Columns;

namespace AiEtl.Engine.Expressions;

/// <summary>
/// Parses the expression form shared by operator chains and SQL: literals, column names (plain or
/// "quoted"), arithmetic, comparison, AND/OR/NOT, IS [NOT] NULL, IS [NOT] DISTINCT FROM, function calls, CAST(x AS type),
/// parentheses, and <c>expr AS alias</c> in select lists. Errors carry the offending position.
/// </summary>
public sealed class ExprParser
{
    private readonly string _text;
    private int _pos;
    private int _depth;
    private int _distinctFrom;

    /// <summary>
    /// IS [NOT] DISTINCT FROM is expanded into a CASE that names each operand more than once, so nesting them
    /// multiplies the bound tree; a small cap keeps any expression's plan small.
    /// </summary>
    public const int MaxDistinctFrom = 8;

    /// <summary>How deeply parentheses, NOT and unary signs may nest (deeper input is an error, never a stack overflow).</summary>
    public const int MaxNesting = 256;

    private void Deeper()
    {
        if (++_depth > MaxNesting) throw new ExpressionException($"the expression is nested too deeply (more than {MaxNesting} levels)", _pos);
    }

    private ExprParser(string text) => _text = text;

    /// <summary>Words that cannot be a bare column name (quote them: "from").</summary>
    public static readonly IReadOnlySet<string> Reserved = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "ORDER", "LIMIT", "AS", "AND", "OR", "NOT", "CASE", "WHEN",
        "THEN", "ELSE", "END", "IS", "NULL", "TRUE", "FALSE", "IN", "BETWEEN", "LIKE", "ILIKE", "DISTINCT", "FILTER",
        "INTERVAL", "CAST", "ON", "JOIN", "UNION", "ALL", "ASC", "DESC",
    };

    /// <summary>Parses one expression of a larger text (e.g. an SQL statement) from <paramref name="pos"/>; advances it past the expression.</summary>
    public static Expr ParseAt(string text, ref int pos)
    {
        var p = new ExprParser(text) { _pos = pos };
        var e = p.ParseOr();
        pos = p._pos;
        return e;
    }

    public static Expr Parse(string text)
    {
        var p = new ExprParser(text);
        var e = p.ParseOr();
        p.SkipWs();
        if (p._pos < text.Length) throw new ExpressionException($"unexpected '{text[p._pos]}' after the expression", p._pos);
        return e;
    }

    public static NamedExpr ParseNamed(string text)
    {
        var p = new ExprParser(text);
        var e = p.ParseOr();
        string? alias = null;
        if (p.TryKeyword("AS"))
        {
            p.SkipWs();
            var at = p._pos;
            alias = p.TryIdentifier() ?? throw new ExpressionException("expected a name after AS", at);
        }
        p.SkipWs();
        if (p._pos < text.Length) throw new ExpressionException($"unexpected '{text[p._pos]}' after the expression", p._pos);
        return new NamedExpr(e, alias);
    }

    private void SkipWs()
    {
        while (_pos < _text.Length && char.IsWhiteSpace(_text[_pos])) _pos++;
    }

    private bool TryKeyword(string kw)
    {
        SkipWs();
        if (_pos + kw.Length > _text.Length) return false;
        if (string.Compare(_text, _pos, kw, 0, kw.Length, StringComparison.OrdinalIgnoreCase) != 0) return false;
        var end = _pos + kw.Length;
        if (end < _text.Length && (char.IsLetterOrDigit(_text[end]) || _text[end] == '_')) return false;
        _pos = end;
        return true;
    }

    private bool TryOp(string op)
    {
        SkipWs();
        if (string.CompareOrdinal(_text, _pos, op, 0, op.Length) != 0) return false;
        _pos += op.Length;
        return true;
    }

    private Expr ParseOr()
    {
        Deeper();
        var left = ParseAnd();
        while (true)
        {
            SkipWs();
            var at = _pos;
            if (!TryKeyword("OR"))
            {
                _depth--;
                return left;
            }
            left = new BinaryExpr("OR", left, ParseAnd(), at);
        }
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (true)
        {
            SkipWs();
            var at = _pos;
            if (!TryKeyword("AND")) return left;
            left = new BinaryExpr("AND", left, ParseNot(), at);
        }
    }

    private Expr ParseNot()
    {
        SkipWs();
        var at = _pos;
        if (TryKeyword("NOT"))
        {
            Deeper();
            var operand = ParseNot();
            _depth--;
            return new UnaryExpr("NOT", operand, at);
        }
        return ParseIs();
    }

    // Precedence follows PostgreSQL, lowest first: OR, AND, NOT, IS, comparison, BETWEEN/IN/LIKE,
    // other operators (|| -> ->>), + -, * / %, AT TIME ZONE, unary minus, ::.
    private Expr ParseIs()
    {
        var left = ParseComparison();
        while (true)
        {
            SkipWs();
            var at = _pos;
            if (!TryKeyword("IS")) return left;
            var negated = TryKeyword("NOT");
            if (TryKeyword("DISTINCT"))
            {
                if (!TryKeyword("FROM")) throw new ExpressionException($"expected FROM after IS {(negated ? "NOT " : "")}DISTINCT", _pos);
                if (++_distinctFrom > MaxDistinctFrom)
                    throw new ExpressionException($"at most {MaxDistinctFrom} IS [NOT] DISTINCT FROM in one expression", at);
                left = DistinctFrom(left, ParseComparison(), negated, at);
                continue;
            }
            if (!TryKeyword("NULL")) throw new ExpressionException("expected NULL, NOT NULL, DISTINCT FROM or NOT DISTINCT FROM after IS", _pos);
            left = new IsNullExpr(left, negated, at);
        }
    }

    /// <summary>
    /// <c>a IS [NOT] DISTINCT FROM b</c>: equality that treats NULLs as equal values and is never NULL, written as
    /// <c>CASE WHEN a IS NULL THEN b IS [NOT] NULL WHEN b IS NULL THEN TRUE|FALSE ELSE a &lt;&gt;|= b END</c>
    /// (so types are checked as for the comparison, and each side is evaluated only where needed).
    /// </summary>
    private static CaseExpr DistinctFrom(Expr left, Expr right, bool negated, int at) => new(null,
    [
        new WhenClause(new IsNullExpr(left, false, at), new IsNullExpr(right, !negated, at)),
        new WhenClause(new IsNullExpr(right, false, at), new Literal(!negated, at)),
    ], new BinaryExpr(negated ? "=" : "<>", left, right, at), at);

    private static readonly string[] CompareOps = ["<=", ">=", "<>", "!=", "=", "<", ">"];

    private Expr ParseComparison()
    {
        var left = ParsePredicate();
        SkipWs();
        var at = _pos;
        foreach (var op in CompareOps)
        {
            if (TryOp(op))
            {
                var right = ParsePredicate();
                return new BinaryExpr(op == "!=" ? "<>" : op, left, right, at);
            }
        }
        return left;
    }

    private Expr ParsePredicate()
    {
        var left = ParseOther();
        SkipWs();
        var save = _pos;
        var negated = TryKeyword("NOT");
        SkipWs();
        var at = _pos;
        if (TryKeyword("BETWEEN"))
        {
            var low = ParseOther();
            if (!TryKeyword("AND")) throw new ExpressionException("expected AND in BETWEEN low AND high", _pos);
            var high = ParseOther();
            return new BetweenExpr(left, low, high, negated, at);
        }
        if (TryKeyword("IN"))
        {
            if (!TryOp("(")) throw new ExpressionException("expected '(' after IN, e.g. x IN (1, 2)", _pos);
            var items = new List<Expr>();
            do items.Add(ParseOr());
            while (TryOp(","));
            if (!TryOp(")")) throw new ExpressionException("expected ',' or ')' in the IN list", _pos);
            return new InListExpr(left, items, negated, at);
        }
        var ilike = false;
        if (TryKeyword("LIKE") || (ilike = TryKeyword("ILIKE")))
        {
            var pattern = ParseOther();
            Expr? escape = TryKeyword("ESCAPE") ? ParseOther() : null;
            return new LikeExpr(left, pattern, escape, ilike, negated, at);
        }
        if (negated) throw new ExpressionException("expected BETWEEN, IN, LIKE or ILIKE after NOT", at);
        _pos = save;
        return left;
    }

    /// <summary>Operators without a precedence of their own in PostgreSQL: || -> ->>, left-associative.</summary>
    private Expr ParseOther()
    {
        var left = ParseAdditive();
        while (true)
        {
            SkipWs();
            var at = _pos;
            if (TryOp("||")) left = new BinaryExpr("||", left, ParseAdditive(), at);
            else if (TryOp("->>")) left = new BinaryExpr("->>", left, ParseAdditive(), at);
            else if (TryOp("->")) left = new BinaryExpr("->", left, ParseAdditive(), at);
            else return left;
        }
    }

    private bool AtArrow() => string.CompareOrdinal(_text, _pos, "->", 0, 2) == 0;

    private Expr ParseAdditive()
    {
        var left = ParseMultiplicative();
        while (true)
        {
            SkipWs();
            var at = _pos;
            if (TryOp("+")) left = new BinaryExpr("+", left, ParseMultiplicative(), at);
            else if (!AtArrow() && TryOp("-")) left = new BinaryExpr("-", left, ParseMultiplicative(), at);
            else return left;
        }
    }

    private Expr ParseMultiplicative()
    {
        var left = ParseAtTimeZone();
        while (true)
        {
            SkipWs();
            var at = _pos;
            if (TryOp("*")) left = new BinaryExpr("*", left, ParseAtTimeZone(), at);
            else if (TryOp("/")) left = new BinaryExpr("/", left, ParseAtTimeZone(), at);
            else if (TryOp("%")) left = new BinaryExpr("%", left, ParseAtTimeZone(), at);
            else return left;
        }
    }

    private Expr ParseAtTimeZone()
    {
        var left = ParseUnary();
        while (true)
        {
            var save = _pos;
            SkipWs();
            var at = _pos;
            if (!TryKeyword("AT")) { _pos = save; return left; }
            if (!TryKeyword("TIME") || !TryKeyword("ZONE"))
            {
                // Not the operator: "at" may be an alias written without AS.
                _pos = save;
                return left;
            }
            left = new AtTimeZoneExpr(left, ParseUnary(), at);
        }
    }

    private Expr ParseUnary()
    {
        SkipWs();
        var at = _pos;
        if (!AtArrow() && TryOp("-"))
        {
            Deeper();
            var operand = ParseUnary();
            _depth--;
            return operand switch
            {
                Literal { Value: long l } => new Literal(-l, at),
                Literal { Value: double d } => new Literal(-d, at),
                _ => new UnaryExpr("-", operand, at),
            };
        }
        if (TryOp("+"))
        {
            Deeper();
            var operand = ParseUnary();
            _depth--;
            return operand;
        }
        return ParsePostfix();
    }

    private Expr ParsePostfix()
    {
        var e = ParsePrimary();
        while (true)
        {
            SkipWs();
            var at = _pos;
            if (!TryOp("::")) return e;
            e = new CastExpr(e, ReadType(), at);
        }
    }

    private static readonly Dictionary<string, ColumnKind> ExtraTypeNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["int4"] = ColumnKind.Int32, ["int8"] = ColumnKind.Int64, ["float8"] = ColumnKind.Float64,
        ["timestamptz"] = ColumnKind.Timestamp,
    };

    /// <summary>A type name: one of <see cref="ColumnTypes.ByName"/>, a PostgreSQL alias, or a two/four-word form.</summary>
    private ColumnKind ReadType()
    {
        SkipWs();
        var tpos = _pos;
        var tname = TryIdentifier() ?? throw new ExpressionException("expected a type name", tpos);
        if (tname.Equals("double", StringComparison.OrdinalIgnoreCase)) { TryKeyword("PRECISION"); return ColumnKind.Float64; }
        if (tname.Equals("character", StringComparison.OrdinalIgnoreCase) && TryKeyword("VARYING")) tname = "varchar";
        if (tname.Equals("timestamp", StringComparison.OrdinalIgnoreCase))
        {
            var save = _pos;
            if (TryKeyword("WITH") || TryKeyword("WITHOUT"))
            {
                if (!TryKeyword("TIME") || !TryKeyword("ZONE")) throw new ExpressionException("expected TIME ZONE", save);
            }
            return ColumnKind.Timestamp;
        }
        if (!ColumnTypes.ByName.TryGetValue(tname, out var kind) && !ExtraTypeNames.TryGetValue(tname, out kind))
            throw new ExpressionException($"unknown type '{tname}' (known: {string.Join(", ", ColumnTypes.ByName.Keys)})", tpos);
        SkipWs();
        if (_pos < _text.Length && _text[_pos] == '(')
            throw new ExpressionException($"type modifiers such as {tname}(n) are not supported; write {tname}", _pos);
        return kind;
    }

    private Expr ParsePrimary()
    {
        SkipWs();
        var at = _pos;
        if (_pos >= _text.Length) throw new ExpressionException("expected an expression, found the end of the text", _pos);
        var c = _text[_pos];
        if (c == '(')
        {
            _pos++;
            var e = ParseOr();
            if (!TryOp(")")) throw new ExpressionException("expected ')'", _pos);
            return e;
        }
        if (c == '\'') return new Literal(ReadString(), at);
        if (char.IsAsciiDigit(c) || (c == '.' && _pos + 1 < _text.Length && char.IsAsciiDigit(_text[_pos + 1]))) return ReadNumber();
        if (TryKeyword("NULL")) return new Literal(null, at);
        if (TryKeyword("TRUE")) return new Literal(true, at);
        if (TryKeyword("FALSE")) return new Literal(false, at);
        if (TryKeyword("INTERVAL")) return ReadInterval(at);
        if (TryKeyword("CAST"))
        {
            if (!TryOp("(")) throw new ExpressionException("expected '(' after CAST", _pos);
            var operand = ParseOr();
            if (!TryKeyword("AS")) throw new ExpressionException("expected AS in CAST(expr AS type)", _pos);
            var kind = ReadType();
            if (!TryOp(")")) throw new ExpressionException("expected ')' to close CAST", _pos);
            return new CastExpr(operand, kind, at);
        }
        if (TryKeyword("CASE")) return ReadCase(at);
        var name = TryIdentifier(out var quoted) ?? throw new ExpressionException($"unexpected '{c}'", _pos);
        if (!quoted && name.ToLowerInvariant() is "date" or "timestamp" or "timestamptz")
        {
            // A typed literal: DATE '2024-01-31', TIMESTAMP '2024-01-31 10:00:00'.
            SkipWs();
            var litAt = _pos;
            if (_pos < _text.Length && _text[_pos] == '\'')
                return new CastExpr(new Literal(ReadString(), litAt), name.Equals("date", StringComparison.OrdinalIgnoreCase) ? ColumnKind.Date : ColumnKind.Timestamp, at);
        }
        if (!quoted && Reserved.Contains(name))
            throw new ExpressionException($"expected an expression, found the keyword {name.ToUpperInvariant()}" + (name.Equals("FROM", StringComparison.OrdinalIgnoreCase) ? " (is the select list empty?)" : ""), at);
        SkipWs();
        if (!quoted && _pos < _text.Length && _text[_pos] == '(')
        {
            _pos++;
            var args = new List<Expr>();
            bool star = false, distinct = false;
            if (TryOp("*"))
            {
                star = true;
                if (!TryOp(")")) throw new ExpressionException($"expected ')' after {name}(*", _pos);
            }
            else if (SpecialCall(name.ToLowerInvariant(), at) is { } special) return special;
            else if (!TryOp(")"))
            {
                distinct = TryKeyword("DISTINCT");
                do args.Add(ParseOr());
                while (TryOp(","));
                if (!TryOp(")")) throw new ExpressionException($"expected ',' or ')' in the arguments of {name}", _pos);
            }
            Expr? filter = null;
            var save = _pos;
            if (TryKeyword("FILTER"))
            {
                if (!TryOp("(") || !TryKeyword("WHERE")) throw new ExpressionException("expected FILTER (WHERE condition)", save);
                filter = ParseOr();
                if (!TryOp(")")) throw new ExpressionException("expected ')' to close FILTER (WHERE …)", _pos);
            }
            return new CallExpr(name.ToLowerInvariant(), args, at, star, distinct, filter);
        }
        return new ColumnRef(name, at);
    }

    /// <summary><c>CASE [operand] WHEN … THEN … [ELSE …] END</c> (after the CASE keyword).</summary>
    private CaseExpr ReadCase(int at)
    {
        SkipWs();
        Expr? operand = null;
        var save = _pos;
        if (TryKeyword("END") || TryKeyword("ELSE")) throw new ExpressionException("expected WHEN after CASE", save);
        if (!TryKeyword("WHEN")) operand = ParseOr();
        else _pos = save;
        var whens = new List<WhenClause>();
        while (TryKeyword("WHEN"))
        {
            var when = ParseOr();
            if (!TryKeyword("THEN")) throw new ExpressionException("expected THEN after the WHEN condition", _pos);
            whens.Add(new WhenClause(when, ParseOr()));
        }
        if (whens.Count == 0) throw new ExpressionException("expected WHEN after CASE", _pos);
        Expr? otherwise = TryKeyword("ELSE") ? ParseOr() : null;
        if (!TryKeyword("END")) throw new ExpressionException("expected WHEN, ELSE or END in CASE", _pos);
        return new CaseExpr(operand, whens, otherwise, at);
    }

    /// <summary>
    /// The SQL-standard call forms with keywords (after the opening parenthesis): EXTRACT(field FROM x),
    /// SUBSTRING(s FROM a FOR b), POSITION(a IN b), TRIM([BOTH|LEADING|TRAILING] [chars] FROM s).
    /// Returns null (position unchanged) for an ordinary argument list.
    /// </summary>
    private CallExpr? SpecialCall(string name, int at)
    {
        SkipWs();
        var start = _pos;
        switch (name)
        {
            case "extract":
            {
                var fieldAt = _pos;
                string field;
                if (_pos < _text.Length && _text[_pos] == '\'') field = ReadString();
                else field = TryIdentifier() ?? throw new ExpressionException("expected a field name in EXTRACT(field FROM value), e.g. EXTRACT(hour FROM ts)", fieldAt);
                if (!TryKeyword("FROM")) throw new ExpressionException("expected FROM in EXTRACT(field FROM value)", _pos);
                var value = ParseOr();
                if (!TryOp(")")) throw new ExpressionException("expected ')' to close EXTRACT", _pos);
                return new CallExpr("extract", [new Literal(field.ToLowerInvariant(), fieldAt), value], at);
            }
            case "position":
            {
                var needle = ParseOther();
                if (!TryKeyword("IN")) throw new ExpressionException("expected IN in POSITION(substring IN string)", _pos);
                var haystack = ParseOther();
                if (!TryOp(")")) throw new ExpressionException("expected ')' to close POSITION", _pos);
                return new CallExpr("strpos", [haystack, needle], at);
            }
            case "substring":
            {
                Expr s;
                if (TryKeyword("FOR") || TryKeyword("FROM")) { _pos = start; return null; }
                s = ParseOr();
                Expr? from = null, count = null;
                var keyword = false;
                if (TryKeyword("FROM")) { from = ParseOr(); keyword = true; }
                if (TryKeyword("FOR")) { count = ParseOr(); keyword = true; }
                if (!keyword) { _pos = start; return null; }
                if (!TryOp(")")) throw new ExpressionException("expected ')' to close SUBSTRING", _pos);
                from ??= new Literal(1L, at);
                return new CallExpr("substring", count == null ? [s, from] : [s, from, count], at);
            }
            case "trim":
            {
                var fn = "btrim";
                if (TryKeyword("LEADING")) fn = "ltrim";
                else if (TryKeyword("TRAILING")) fn = "rtrim";
                else TryKeyword("BOTH");
                Expr? chars = null;
                if (!TryKeyword("FROM"))
                {
                    var first = ParseOr();
                    if (TryKeyword("FROM")) chars = first;
                    else
                    {
                        // trim(s) or trim(s, chars), as in PostgreSQL
                        var args = new List<Expr> { first };
                        while (TryOp(",")) args.Add(ParseOr());
                        if (!TryOp(")")) throw new ExpressionException("expected ',', FROM or ')' in TRIM", _pos);
                        return new CallExpr(fn, args, at);
                    }
                }
                var str = ParseOr();
                if (!TryOp(")")) throw new ExpressionException("expected ')' to close TRIM", _pos);
                return new CallExpr(fn, chars == null ? [str] : [str, chars], at);
            }
            default:
                return null;
        }
    }

    private static readonly (string Unit, long Micros)[] IntervalUnits =
    [
        ("microsecond", 1), ("millisecond", 1_000), ("second", 1_000_000), ("minute", 60_000_000),
        ("hour", 3_600_000_000), ("day", 86_400_000_000), ("week", 7 * 86_400_000_000L),
    ];

    private static long? UnitMicros(string unit)
    {
        var u = unit.ToLowerInvariant();
        if (u.EndsWith('s') && u.Length > 1) u = u[..^1];
        u = u switch { "sec" => "second", "min" => "minute", "ms" => "millisecond", "us" => "microsecond", "h" => "hour", "d" => "day", _ => u };
        foreach (var (name, micros) in IntervalUnits) if (name == u) return micros;
        return null;
    }

    /// <summary><c>INTERVAL '5' MINUTE</c>, <c>INTERVAL '5 minutes'</c>, <c>INTERVAL '1 hour 30 minutes'</c>.</summary>
    private IntervalLiteral ReadInterval(int at)
    {
        SkipWs();
        if (_pos >= _text.Length || _text[_pos] != '\'')
            throw new ExpressionException("expected a quoted amount after INTERVAL, e.g. INTERVAL '5' MINUTE", _pos);
        var quoteAt = _pos;
        var body = ReadString().Trim();
        var parts = body.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long total = 0;
        if (parts.Length == 1)
        {
            SkipWs();
            var unitAt = _pos;
            var unit = TryIdentifier() ?? throw new ExpressionException($"expected a unit after INTERVAL '{body}' (SECOND, MINUTE, HOUR, DAY …)", unitAt);
            var micros = UnitMicros(unit) ?? throw new ExpressionException(
                unit.StartsWith("month", StringComparison.OrdinalIgnoreCase) || unit.StartsWith("year", StringComparison.OrdinalIgnoreCase)
                    ? $"INTERVAL in {unit.ToUpperInvariant()} has no fixed length; use DAY or smaller units" : $"unknown interval unit '{unit}'", unitAt);
            if (!decimal.TryParse(parts[0], System.Globalization.NumberStyles.AllowDecimalPoint | System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var amount))
                throw new ExpressionException($"'{parts[0]}' is not a number", quoteAt);
            total = IntervalMicros(amount, micros, quoteAt);
        }
        else
        {
            if (parts.Length % 2 != 0) throw new ExpressionException($"cannot read interval '{body}' (write e.g. '1 hour 30 minutes')", quoteAt);
            for (var k = 0; k < parts.Length; k += 2)
            {
                if (!decimal.TryParse(parts[k], System.Globalization.NumberStyles.AllowDecimalPoint | System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var amount))
                    throw new ExpressionException($"'{parts[k]}' is not a number in interval '{body}'", quoteAt);
                var micros = UnitMicros(parts[k + 1]) ?? throw new ExpressionException($"unknown interval unit '{parts[k + 1]}'", quoteAt);
                total = IntervalMicros(amount, micros, quoteAt, total);
            }
        }
        return new IntervalLiteral(total, body, at);
    }

    private static long IntervalMicros(decimal amount, long unitMicros, int at, long sum = 0)
    {
        try
        {
            return checked(sum + (long)(amount * unitMicros));
        }
        catch (OverflowException)
        {
            throw new ExpressionException("the interval is out of range", at);
        }
    }

    private string? TryIdentifier() => TryIdentifier(out _);

    private string? TryIdentifier(out bool quoted)
    {
        SkipWs();
        quoted = false;
        if (_pos >= _text.Length) return null;
        if (_text[_pos] == '"')
        {
            quoted = true;
            var start = _pos;
            var sb = new StringBuilder();
            _pos++;
            while (true)
            {
                if (_pos >= _text.Length) throw new ExpressionException("unterminated quoted name", start);
                if (_text[_pos] == '"')
                {
                    if (_pos + 1 < _text.Length && _text[_pos + 1] == '"') { sb.Append('"'); _pos += 2; continue; }
                    _pos++;
                    return sb.ToString();
                }
                sb.Append(_text[_pos++]);
            }
        }
        if (!(char.IsLetter(_text[_pos]) || _text[_pos] == '_')) return null;
        var s = _pos;
        while (_pos < _text.Length && (char.IsLetterOrDigit(_text[_pos]) || _text[_pos] == '_')) _pos++;
        return _text[s.._pos];
    }

    private string ReadString()
    {
        var start = _pos;
        var sb = new StringBuilder();
        _pos++;
        while (true)
        {
            if (_pos >= _text.Length) throw new ExpressionException("unterminated string literal (strings are in single quotes; write '' for a quote)", start);
            if (_text[_pos] == '\'')
            {
                if (_pos + 1 < _text.Length && _text[_pos + 1] == '\'') { sb.Append('\''); _pos += 2; continue; }
                _pos++;
                return sb.ToString();
            }
            sb.Append(_text[_pos++]);
        }
    }

    private Literal ReadNumber()
    {
        var start = _pos;
        while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos])) _pos++;
        var isFloat = false;
        if (_pos < _text.Length && _text[_pos] == '.')
        {
            isFloat = true;
            _pos++;
            while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos])) _pos++;
        }
        if (_pos < _text.Length && (_text[_pos] == 'e' || _text[_pos] == 'E'))
        {
            var save = _pos;
            _pos++;
            if (_pos < _text.Length && (_text[_pos] == '+' || _text[_pos] == '-')) _pos++;
            if (_pos < _text.Length && char.IsAsciiDigit(_text[_pos]))
            {
                isFloat = true;
                while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos])) _pos++;
            }
            else _pos = save;
        }
        var span = _text.AsSpan(start, _pos - start);
        if (!isFloat && long.TryParse(span, NumberStyles.None, CultureInfo.InvariantCulture, out var l)) return new Literal(l, start);
        if (double.TryParse(span, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)) return new Literal(d, start);
        throw new ExpressionException($"number '{span}' is out of range", start);
    }
}
