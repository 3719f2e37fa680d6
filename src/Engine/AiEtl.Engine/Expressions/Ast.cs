using AiEtl.Engine.Columns;

namespace AiEtl.Engine.Expressions;

/// <summary>Expression syntax tree; <c>Position</c> is the 0-based character offset in the source text.</summary>
public abstract record Expr(int Position);

public sealed record ColumnRef(string Name, int Position) : Expr(Position);

/// <summary>A constant: long, double, string, bool, or null.</summary>
public sealed record Literal(object? Value, int Position) : Expr(Position);

public sealed record UnaryExpr(string Op, Expr Operand, int Position) : Expr(Position);

public sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Position) : Expr(Position);

public sealed record IsNullExpr(Expr Operand, bool Negated, int Position) : Expr(Position);

/// <summary><c>left IS [NOT] DISTINCT FROM right</c>: null-safe (in)equality, never NULL.</summary>
public sealed record DistinctFromExpr(Expr Left, Expr Right, bool Negated, int Position) : Expr(Position);

/// <summary>A function call; aggregates may be <c>f(*)</c>, <c>f(DISTINCT x)</c> and carry <c>FILTER (WHERE cond)</c>.</summary>
public sealed record CallExpr(string Name, IReadOnlyList<Expr> Args, int Position, bool Star = false, bool Distinct = false, Expr? Filter = null) : Expr(Position);

/// <summary>
/// <c>INTERVAL '5' MINUTE</c>, <c>INTERVAL '1 hour 30 minutes'</c>, <c>INTERVAL '1' MONTH</c>: a count of calendar
/// months (no fixed length) plus a fixed duration in microseconds (days are 24 hours: timestamps are UTC).
/// </summary>
public sealed record IntervalLiteral(long Micros, string Text, int Position, long Months = 0) : Expr(Position);

public sealed record CastExpr(Expr Operand, ColumnKind To, int Position) : Expr(Position);

/// <summary>One <c>WHEN condition THEN result</c> arm of a CASE.</summary>
public sealed record WhenClause(Expr When, Expr Then);

/// <summary><c>CASE [operand] WHEN … THEN … [ELSE …] END</c>; with an operand each WHEN holds a value compared with it.</summary>
public sealed record CaseExpr(Expr? Operand, IReadOnlyList<WhenClause> Whens, Expr? Else, int Position) : Expr(Position);

/// <summary><c>operand [NOT] IN (item, …)</c>.</summary>
public sealed record InListExpr(Expr Operand, IReadOnlyList<Expr> Items, bool Negated, int Position) : Expr(Position);

/// <summary><c>operand [NOT] BETWEEN low AND high</c>.</summary>
public sealed record BetweenExpr(Expr Operand, Expr Low, Expr High, bool Negated, int Position) : Expr(Position);

/// <summary><c>operand [NOT] LIKE|ILIKE pattern [ESCAPE escape]</c>.</summary>
public sealed record LikeExpr(Expr Operand, Expr Pattern, Expr? Escape, bool IgnoreCase, bool Negated, int Position) : Expr(Position);

/// <summary><c>operand AT TIME ZONE zone</c>.</summary>
public sealed record AtTimeZoneExpr(Expr Operand, Expr Zone, int Position) : Expr(Position);

/// <summary>An expression with an optional output name (<c>expr AS name</c>).</summary>
public sealed record NamedExpr(Expr Expr, string? Alias);

/// <summary>A syntax or binding error with its position in the expression text.</summary>
public sealed class ExpressionException(string message, int position) : Exception(message)
{
    public int Position { get; } = position;
}
