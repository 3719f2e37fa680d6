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
                left = new DistinctFromExpr(left, ParseComparison(), negated, at);
                continue;
            }
            if (!TryKeyword("NULL")) throw new ExpressionException("expected NULL, NOT NULL, DISTINCT FROM or NOT DISTINCT FROM after IS", _pos);
            left = new IsNullExpr(left, negated, at);
        }
    }

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

    /// <summary>Months in one unit of a calendar interval unit (year, month …), or null for a fixed-length unit.</summary>
    private static long? UnitMonths(string unit)
    {
        var u = unit.ToLowerInvariant();
        u = u switch
        {
            "y" or "yr" or "yrs" or "year" or "years" => "year",
            "mon" or "mons" or "month" or "months" => "month",
            "decade" or "decades" => "decade",
            "century" or "centuries" => "century",
            "millennium" or "millennia" or "millenniums" => "millennium",
            _ => u,
        };
        return u switch { "year" => 12, "month" => 1, "decade" => 120, "century" => 1200, "millennium" => 12000, _ => null };
    }

    /// <summary>
    /// <c>INTERVAL '5' MINUTE</c>, <c>INTERVAL '5 minutes'</c>, <c>INTERVAL '1 hour 30 minutes'</c>, <c>INTERVAL '1' MONTH</c>,
    /// <c>INTERVAL '2 years 3 months 4 days'</c>, <c>INTERVAL '1-2' YEAR TO MONTH</c>. Months are kept apart from the
    /// fixed part (a month has no fixed length); fractions spill as PostgreSQL does: a fraction of a year becomes whole
    /// months (rounded), a fraction of a month becomes days of 30.
    /// </summary>
    private IntervalLiteral ReadInterval(int at)
    {
        SkipWs();
        if (_pos >= _text.Length || _text[_pos] != '\'')
            throw new ExpressionException("expected a quoted amount after INTERVAL, e.g. INTERVAL '5' MINUTE", _pos);
        var quoteAt = _pos;
        var body = ReadString().Trim();
        var parts = body.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long total = 0, months = 0;
        if (parts.Length == 1)
        {
            SkipWs();
            var unitAt = _pos;
            var unit = TryIdentifier() ?? throw new ExpressionException($"expected a unit after INTERVAL '{body}' (SECOND, MINUTE, HOUR, DAY, MONTH, YEAR …)", unitAt);
            if (UnitMonths(unit) == 12)
            {
                var save = _pos;
                if (TryKeyword("TO"))
                {
                    SkipWs();
                    var toAt = _pos;
                    var to = TryIdentifier();
                    if (to == null || UnitMonths(to) != 1)
                        throw new ExpressionException("only YEAR TO MONTH is supported after INTERVAL '…' YEAR TO", toAt);
                    return new IntervalLiteral(0, body + " " + unit + " TO " + to, at, YearToMonth(body, quoteAt));
                }
                _pos = save;
            }
            var amount = Amount(parts[0], body, quoteAt);
            if (UnitMonths(unit) is { } perUnit)
            {
                // PostgreSQL cuts INTERVAL '1.5' YEAR down to the named field; a whole number avoids that surprise.
                if (decimal.Truncate(amount) != amount)
                    throw new ExpressionException($"INTERVAL '{body}' {unit.ToUpperInvariant()} needs a whole number (write e.g. '1 year 6 months' or '1 month 15 days')", quoteAt);
                (months, total) = CalendarAmount(amount, perUnit, quoteAt, 0, 0);
            }
            else
            {
                var micros = UnitMicros(unit) ?? throw new ExpressionException($"unknown interval unit '{unit}'", unitAt);
                total = IntervalMicros(amount, micros, quoteAt);
            }
        }
        else
        {
            if (parts.Length % 2 != 0) throw new ExpressionException($"cannot read interval '{body}' (write e.g. '1 hour 30 minutes' or '1 year 2 months')", quoteAt);
            for (var k = 0; k < parts.Length; k += 2)
            {
                var amount = Amount(parts[k], body, quoteAt);
                if (UnitMonths(parts[k + 1]) is { } perUnit)
                {
                    (months, total) = CalendarAmount(amount, perUnit, quoteAt, months, total);
                    continue;
                }
                var micros = UnitMicros(parts[k + 1]) ?? throw new ExpressionException($"unknown interval unit '{parts[k + 1]}'", quoteAt);
                total = IntervalMicros(amount, micros, quoteAt, total);
            }
        }
        return new IntervalLiteral(total, body, at, months);
    }

    private static decimal Amount(string text, string body, int at) =>
        decimal.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var amount)
            ? amount : throw new ExpressionException($"'{text}' is not a number in interval '{body}'", at);

    /// <summary>'Y-M' (optionally signed) of <c>YEAR TO MONTH</c> as months.</summary>
    private static long YearToMonth(string body, int at)
    {
        var t = body;
        var sign = 1;
        if (t.StartsWith('-')) { sign = -1; t = t[1..]; }
        else if (t.StartsWith('+')) t = t[1..];
        var dash = t.IndexOf('-', StringComparison.Ordinal);
        long y, m = 0;
        bool ok;
        if (dash > 0)
            ok = long.TryParse(t[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out y)
                & long.TryParse(t[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out m);
        else ok = long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out y);
        if (!ok || m > 11) throw new ExpressionException($"cannot read interval '{body}' as YEAR TO MONTH (write e.g. '1-2' for 1 year 2 months)", at);
        try
        {
            return checked(sign * (y * 12 + m));
        }
        catch (OverflowException)
        {
            throw new ExpressionException("the interval is out of range", at);
        }
    }

    /// <summary>Adds <paramref name="amount"/> units of <paramref name="perUnit"/> months: whole months, the rest as PostgreSQL spills it.</summary>
    private static (long Months, long Micros) CalendarAmount(decimal amount, long perUnit, int at, long months, long micros)
    {
        const long MicrosPerMonth = 30 * 86_400_000_000L;
        try
        {
            var whole = decimal.Truncate(amount);
            var frac = amount - whole;
            months = checked(months + (long)(whole * perUnit));
            if (frac == 0) return (months, micros);
            if (perUnit >= 12)
                // PostgreSQL rounds a fraction of a year (decade …) to whole months.
                return (checked(months + (long)decimal.Round(frac * perUnit, MidpointRounding.ToEven)), micros);
            // A fraction of a month: 30-day months, down to the microsecond.
            return (months, checked(micros + (long)decimal.Truncate(frac * MicrosPerMonth)));
        }
        catch (OverflowException)
        {
            throw new ExpressionException("the interval is out of range", at);
        }
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
