using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;

namespace AiEtl.Engine.Sql;

// The syntax tree of one streaming SELECT. Positions are 0-based offsets in the SQL text; expressions are
// the shared expression AST (Expressions/Ast.cs), parsed in place so their positions are SQL offsets too.

/// <summary><c>SELECT items FROM table [WHERE] [GROUP BY] [HAVING]</c>.</summary>
/// <param name="Text">The SQL text with comments and <c>t.</c> qualifiers blanked out (same offsets as the original).</param>
/// <param name="Items">The select list.</param>
/// <param name="From">The table read.</param>
/// <param name="Where">The WHERE condition, if any.</param>
/// <param name="GroupBy">GROUP BY keys and at most one window.</param>
/// <param name="GroupByPosition">Offset of GROUP BY, or -1.</param>
/// <param name="Having">The HAVING condition, if any.</param>
/// <param name="HavingPosition">Offset of HAVING, or -1.</param>
public sealed record SqlQuery(
    string Text,
    IReadOnlyList<SelectItem> Items,
    TableRef From,
    Expr? Where,
    IReadOnlyList<GroupItem> GroupBy,
    int GroupByPosition,
    Expr? Having,
    int HavingPosition)
{
    /// <summary>The window of the GROUP BY, if any.</summary>
    public WindowItem? Window => GroupBy.OfType<WindowItem>().FirstOrDefault();
}

/// <summary>One entry of the select list.</summary>
public abstract record SelectItem(int Position);

/// <summary><c>*</c> or <c>t.*</c>: every column of the table.</summary>
public sealed record StarItem(int Position) : SelectItem(Position);

/// <summary><c>expr [AS] [name]</c>.</summary>
public sealed record ExprItem(Expr Expr, string? Alias, int Position) : SelectItem(Position);

/// <summary>The FROM table: a source's name, with an optional alias.</summary>
/// <param name="Name">The table name as written (without quotes).</param>
/// <param name="Quoted">True when the name was written in double quotes (then matched exactly).</param>
/// <param name="Alias">The alias, if any.</param>
/// <param name="Position">Offset of the name.</param>
public sealed record TableRef(string Name, bool Quoted, string? Alias, int Position)
{
    /// <summary>True when <paramref name="qualifier"/> (as in <c>q.col</c>) names this table.</summary>
    public bool IsNamedBy(string qualifier, bool quoted)
    {
        if (Alias != null) return quoted ? qualifier == Alias : string.Equals(qualifier, Alias, StringComparison.OrdinalIgnoreCase);
        return quoted || Quoted ? qualifier == Name : string.Equals(qualifier, Name, StringComparison.OrdinalIgnoreCase);
    }
}

/// <summary>One GROUP BY entry.</summary>
public abstract record GroupItem(int Position);

/// <summary>A grouping expression (a column, an expression, a select-list alias or a 1-based select-list position).</summary>
public sealed record KeyItem(Expr Expr, int Position) : GroupItem(Position);

/// <summary><c>TUMBLE(t, size)</c>, <c>HOP(t, slide, size)</c> or <c>SESSION(t, gap)</c>; sizes in microseconds.</summary>
public sealed record WindowItem(WindowKind Kind, Expr Time, long SizeMicros, long SlideMicros, long GapMicros, int Position) : GroupItem(Position)
{
    public string Describe(string time) => Kind switch
    {
        WindowKind.Tumble => $"TUMBLE({time}, {SqlFormat.Duration(SizeMicros)})",
        WindowKind.Hop => $"HOP({time}, {SqlFormat.Duration(SlideMicros)}, {SqlFormat.Duration(SizeMicros)})",
        WindowKind.Session => $"SESSION({time}, {SqlFormat.Duration(GapMicros)})",
        _ => "none",
    };
}

/// <summary>Formatting shared by the SQL explain output.</summary>
public static class SqlFormat
{
    /// <summary>A duration in microseconds as <c>1h</c>, <c>90s</c>, <c>250ms</c>, <c>7us</c>.</summary>
    public static string Duration(long micros)
    {
        if (micros == 0) return "0s";
        (long Unit, string Suffix)[] units = [(86_400_000_000, "d"), (3_600_000_000, "h"), (60_000_000, "m"), (1_000_000, "s"), (1_000, "ms"), (1, "us")];
        foreach (var (unit, suffix) in units)
            if (micros % unit == 0) return (micros / unit).ToString(System.Globalization.CultureInfo.InvariantCulture) + suffix;
        return micros.ToString(System.Globalization.CultureInfo.InvariantCulture) + "us";
    }
}
