using System.Globalization;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Expressions;

/// <summary>Resolves names against a schema, checks and infers types, and builds vectorized expressions.</summary>
/// <param name="schema">The input schema names resolve against.</param>
/// <param name="resolve">
/// Called first for every node (also nested ones); a non-null result replaces the default binding. The SQL
/// planner uses it to bind aggregate calls and GROUP BY keys to the aggregate's output columns.
/// </param>
public sealed partial class Binder(Schema schema, Func<Expr, VExpr?>? resolve = null)
{
    public Schema Schema => schema;

    public VExpr Bind(Expr e) => (resolve != null ? resolve(e) : null) ?? BindDefault(e);

    private VExpr BindDefault(Expr e) => e switch
    {
        ColumnRef c => BindColumn(c),
        Literal l => BindLiteral(l),
        UnaryExpr { Op: "NOT" } u => new NotVExpr(RequireBool(Bind(u.Operand), u.Operand.Position, "NOT")),
        UnaryExpr { Op: "-" } u => BindNegate(u),
        BinaryExpr { Op: "AND" or "OR" } b => new LogicVExpr(b.Op, RequireBool(Bind(b.Left), b.Left.Position, b.Op), RequireBool(Bind(b.Right), b.Right.Position, b.Op)),
        BinaryExpr { Op: "+" or "-" or "*" or "/" or "%" } b => BindArith(b),
        BinaryExpr { Op: "||" } b => BindConcatOp(b),
        BinaryExpr { Op: "->" or "->>" } b => BindJsonOp(b),
        BinaryExpr b => BindCompare(b),
        IsNullExpr n => new IsNullVExpr(Bind(n.Operand), n.Negated),
        DistinctFromExpr d => new DistinctFromVExpr((CompareVExpr)BindCompare("=", Bind(d.Left), Bind(d.Right), d.Left.Position, d.Right.Position, d.Position), d.Negated),
        CastExpr c => BindCast(c),
        CaseExpr c => BindCase(c),
        InListExpr i => BindIn(i),
        BetweenExpr b => BindBetween(b),
        LikeExpr l => BindLike(l),
        AtTimeZoneExpr a => BindAtTimeZone(a),
        CallExpr { Star: true } or CallExpr { Distinct: true } or CallExpr { Filter: not null } => throw new ExpressionException($"{((CallExpr)e).Name}(…) with *, DISTINCT or FILTER is an aggregate; it is only allowed in the select list of a GROUP BY query", e.Position),
        CallExpr f => BindCall(f),
        IntervalLiteral i => new IntervalVExpr(new LiteralVExpr(i.Micros, ColumnKind.Int64), $"INTERVAL '{i.Text.Replace("'", "''", StringComparison.Ordinal)}'",
            i.Months != 0 ? new LiteralVExpr(i.Months, ColumnKind.Int64) : null),
        _ => throw new ExpressionException($"unsupported expression {e.GetType().Name}", e.Position),
    };

    private VExpr BindColumn(ColumnRef c)
    {
        var fields = schema.FieldsList;
        var idx = -1;
        for (var i = 0; i < fields.Count; i++) if (fields[i].Name == c.Name) { idx = i; break; }
        if (idx < 0)
        {
            var ci = Enumerable.Range(0, fields.Count).Where(i => string.Equals(fields[i].Name, c.Name, StringComparison.OrdinalIgnoreCase)).ToList();
            if (ci.Count == 1) idx = ci[0];
        }
        if (idx < 0)
        {
            var hint = fields.Select(f => f.Name).OrderBy(n => Levenshtein(n.ToLowerInvariant(), c.Name.ToLowerInvariant())).FirstOrDefault();
            throw new ExpressionException($"unknown column '{c.Name}'" + (hint != null && Levenshtein(hint.ToLowerInvariant(), c.Name.ToLowerInvariant()) <= 3 ? $"; did you mean '{hint}'?" : "") +
                $" (columns: {string.Join(", ", fields.Select(f => f.Name))})", c.Position);
        }
        return new ColumnVExpr(idx, fields[idx].Name, ColumnTypes.FromArrow(fields[idx].DataType));
    }

    private static LiteralVExpr BindLiteral(Literal l) => l.Value switch
    {
        null => new LiteralVExpr(null, ColumnKind.Int64),
        long v => new LiteralVExpr(v, ColumnKind.Int64),
        double v => new LiteralVExpr(v, ColumnKind.Float64),
        bool v => new LiteralVExpr(v, ColumnKind.Bool),
        string v => new LiteralVExpr(v, ColumnKind.String),
        _ => throw new ExpressionException("unsupported literal", l.Position),
    };

    private VExpr BindNegate(UnaryExpr u)
    {
        var x = Bind(u.Operand);
        if (x is IntervalVExpr iv)
            return new IntervalVExpr(new NegateVExpr(iv.Micros), null, iv.Months is { } m ? new NegateVExpr(m) : null);
        if (!IsNumeric(x.Kind)) throw new ExpressionException($"cannot negate a {ColumnTypes.Name(x.Kind)}", u.Position);
        return new NegateVExpr(x);
    }

    private static VExpr RequireBool(VExpr x, int pos, string op)
    {
        if (x is LiteralVExpr { Value: null }) return new LiteralVExpr(null, ColumnKind.Bool);
        if (x.Kind != ColumnKind.Bool) throw new ExpressionException($"argument of {op} must be boolean, not {ColumnTypes.Name(x.Kind)}", pos);
        return x;
    }

    public static bool IsNumeric(ColumnKind k) => k is ColumnKind.Int32 or ColumnKind.Int64 or ColumnKind.Float64;

    private static ColumnKind Wider(ColumnKind a, ColumnKind b) =>
        a == ColumnKind.Float64 || b == ColumnKind.Float64 ? ColumnKind.Float64
        : a == ColumnKind.Int64 || b == ColumnKind.Int64 ? ColumnKind.Int64 : ColumnKind.Int32;

    /// <summary>Narrows an integer literal to int32 next to an int32 operand (as PostgreSQL types small literals).</summary>
    private static VExpr Fit(VExpr lit, ColumnKind other)
    {
        if (lit is LiteralVExpr { Value: long v } && other == ColumnKind.Int32 && v is >= int.MinValue and <= int.MaxValue)
            return new LiteralVExpr((int)v, ColumnKind.Int32);
        if (lit is LiteralVExpr { Value: null } && other != lit.Kind) return new LiteralVExpr(null, other);
        return lit;
    }

    private VExpr BindArith(BinaryExpr b)
    {
        var l = Bind(b.Left);
        var r = Bind(b.Right);
        if (BindTemporalArith(b, l, r) is { } temporal) return temporal;
        l = Fit(l, r.Kind);
        r = Fit(r, l.Kind);
        if (!IsNumeric(l.Kind) || !IsNumeric(r.Kind))
            throw new ExpressionException($"operator {b.Op} needs numbers, got {ColumnTypes.Name(l.Kind)} {b.Op} {ColumnTypes.Name(r.Kind)}", b.Position);
        return new ArithVExpr(b.Op, l, r, Wider(l.Kind, r.Kind));
    }

    private VExpr BindCompare(BinaryExpr b) => BindCompare(b.Op, Bind(b.Left), Bind(b.Right), b.Left.Position, b.Right.Position, b.Position);

    /// <summary>A comparison of two bound operands (also used for IN, BETWEEN, NULLIF and simple CASE).</summary>
    private static VExpr BindCompare(string op, VExpr l, VExpr r, int lpos, int rpos, int pos)
    {
        if (l is IntervalVExpr li) l = li.Total;
        if (r is IntervalVExpr ri) r = ri.Total;
        l = Coerce(l, r.Kind, lpos);
        r = Coerce(r, l.Kind, rpos);
        ColumnKind k;
        if (IsNumeric(l.Kind) && IsNumeric(r.Kind)) k = Wider(l.Kind, r.Kind);
        else if (l.Kind == r.Kind) k = l.Kind;
        else if (l.Kind is ColumnKind.Date or ColumnKind.Timestamp && r.Kind is ColumnKind.Date or ColumnKind.Timestamp)
        {
            k = ColumnKind.Timestamp;
            if (l.Kind == ColumnKind.Date) l = new CastVExpr(l, k);
            if (r.Kind == ColumnKind.Date) r = new CastVExpr(r, k);
        }
        else throw new ExpressionException($"cannot compare {ColumnTypes.Name(l.Kind)} with {ColumnTypes.Name(r.Kind)}", pos);
        // Keep a literal on the right so the constant fast path applies.
        if (l is LiteralVExpr && r is not LiteralVExpr)
        {
            var flipped = op switch { "<" => ">", "<=" => ">=", ">" => "<", ">=" => "<=", _ => op };
            return new CompareVExpr(flipped, r, CoerceLiteral(l, k), k);
        }
        return new CompareVExpr(op, l, CoerceLiteral(r, k), k);
    }

    private static VExpr CoerceLiteral(VExpr x, ColumnKind k)
    {
        if (x is not LiteralVExpr { Value: not null } lit || lit.Kind == k) return x;
        if (IsNumeric(k) && IsNumeric(lit.Kind))
        {
            if (k == ColumnKind.Float64) return new LiteralVExpr(Convert.ToDouble(lit.Value, CultureInfo.InvariantCulture), k);
            if (k == ColumnKind.Int64 && lit.Value is int i) return new LiteralVExpr((long)i, k);
        }
        return x;
    }

    /// <summary>String literals next to a timestamp/date/number are parsed at bind time.</summary>
    private static VExpr Coerce(VExpr x, ColumnKind other, int pos)
    {
        if (x is LiteralVExpr { Value: string s } && other != ColumnKind.String)
        {
            if (!Values.TryConvert(s, ColumnKind.String, other, out var v, out var err))
                throw new ExpressionException($"'{s}' is not a valid {ColumnTypes.Name(other)}: {err}", pos);
            return new LiteralVExpr(v, other);
        }
        return Fit(x, other);
    }

    private VExpr BindCast(CastExpr c)
    {
        var x = Bind(c.Operand);
        if (x is LiteralVExpr { Value: null }) return new LiteralVExpr(null, c.To);
        if (x is LiteralVExpr { Value: { } v } lit)
        {
            if (!Values.TryConvert(v, lit.Kind, c.To, out var r, out var err))
                throw new ExpressionException($"cannot cast {lit.Describe()} to {ColumnTypes.Name(c.To)}: {err}", c.Position);
            return new LiteralVExpr(r, c.To);
        }
        return new CastVExpr(x, c.To);
    }

    public static int Levenshtein(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
