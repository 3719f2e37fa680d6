using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using Apache.Arrow;

namespace AiEtl.Engine.Sql;

/// <summary>
/// The logical plan of a query: Scan → Filter → Project for a row-at-a-time query, or
/// Scan → Filter → Aggregate → Having → Project for an aggregating one. Expressions are bound: below the
/// Aggregate they read the source's columns, above it the Aggregate's output columns.
/// </summary>
public abstract record LogicalPlan
{
    /// <summary>The input, or null for the scan.</summary>
    public abstract LogicalPlan? Input { get; }

    /// <summary>One line describing this node (without its input).</summary>
    public abstract string Describe();

    /// <summary>The plan as an indented tree, the root first (as PostgreSQL's EXPLAIN prints it).</summary>
    public IReadOnlyList<string> Lines()
    {
        var lines = new List<string>();
        var indent = "";
        for (LogicalPlan? node = this; node != null; node = node.Input)
        {
            lines.Add(indent + node.Describe());
            indent += "  ";
        }
        return lines;
    }
}

/// <summary>Reads the source table.</summary>
public sealed record LogicalScan(string Table, Schema Schema) : LogicalPlan
{
    public override LogicalPlan? Input => null;
    public override string Describe() => $"Scan {Table} ({string.Join(", ", Schema.FieldsList.Select(f => $"{f.Name} {f.DataType.Name}"))})";
}

/// <summary>WHERE: keeps the rows for which the predicate is true.</summary>
public sealed record LogicalFilter(LogicalPlan Source, VExpr Predicate) : LogicalPlan
{
    public override LogicalPlan? Input => Source;
    public override string Describe() => $"Filter {Predicate.Describe()}";
}

/// <summary>An output column: its name and the expression that computes it.</summary>
public sealed record NamedVExpr(string Name, VExpr Expr)
{
    public string Describe() => Expr is ColumnVExpr c && c.Name == Name ? Name : $"{Expr.Describe()} AS {Name}";
}

/// <summary>The select list.</summary>
public sealed record LogicalProject(LogicalPlan Source, IReadOnlyList<NamedVExpr> Columns) : LogicalPlan
{
    public override LogicalPlan? Input => Source;
    public override string Describe() => $"Project {string.Join(", ", Columns.Select(c => c.Describe()))}";
}

/// <summary>An event-time window of the GROUP BY.</summary>
public sealed record LogicalWindow(WindowKind Kind, VExpr Time, long SizeMicros, long SlideMicros, long GapMicros, long AllowedLatenessMicros)
{
    public string Describe()
    {
        var w = Kind switch
        {
            WindowKind.Tumble => $"TUMBLE({Time.Describe()}, {SqlFormat.Duration(SizeMicros)})",
            WindowKind.Hop => $"HOP({Time.Describe()}, {SqlFormat.Duration(SlideMicros)}, {SqlFormat.Duration(SizeMicros)})",
            _ => $"SESSION({Time.Describe()}, {SqlFormat.Duration(GapMicros)})",
        };
        return AllowedLatenessMicros > 0 ? $"{w} allowed lateness {SqlFormat.Duration(AllowedLatenessMicros)}" : w;
    }
}

/// <summary>One aggregate call: <c>count(*)</c>, <c>sum(x)</c>, <c>count(DISTINCT x) FILTER (WHERE c)</c>, …</summary>
public sealed record LogicalAggregateCall(AggregateFunction Function, VExpr? Argument, VExpr? Filter, string Name)
{
    public string Call()
    {
        var fn = Function switch
        {
            AggregateFunction.CountStar or AggregateFunction.Count or AggregateFunction.CountDistinct => "count",
            AggregateFunction.ApproxCountDistinct => "approx_count_distinct",
            _ => Function.ToString().ToLowerInvariant(),
        };
        var arg = Function == AggregateFunction.CountStar ? "*" : (Function == AggregateFunction.CountDistinct ? "DISTINCT " : "") + Argument!.Describe();
        return $"{fn}({arg})" + (Filter != null ? $" FILTER (WHERE {Filter.Describe()})" : "");
    }

    public string Describe() => Call() == Name ? Name : $"{Call()} AS {Name}";
}

/// <summary>GROUP BY keys and an optional window, computing the aggregates per group (and window).</summary>
public sealed record LogicalAggregate(LogicalPlan Source, IReadOnlyList<NamedVExpr> Keys, LogicalWindow? Window, IReadOnlyList<LogicalAggregateCall> Aggregates) : LogicalPlan
{
    public override LogicalPlan? Input => Source;

    public override string Describe()
    {
        var parts = new List<string>();
        if (Keys.Count > 0) parts.Add($"keys [{string.Join(", ", Keys.Select(k => k.Describe()))}]");
        if (Window != null) parts.Add($"window {Window.Describe()}");
        parts.Add($"aggregates [{string.Join(", ", Aggregates.Select(a => a.Describe()))}]");
        return "Aggregate " + string.Join(" ", parts);
    }
}

/// <summary>HAVING: keeps the groups for which the predicate is true.</summary>
public sealed record LogicalHaving(LogicalPlan Source, VExpr Predicate) : LogicalPlan
{
    public override LogicalPlan? Input => Source;
    public override string Describe() => $"Having {Predicate.Describe()}";
}
