namespace AiEtl.Engine.Sql;

/// <summary>
/// An error in an SQL query: what was expected or what is wrong, at a 1-based line and column of the SQL
/// text (columns count UTF-16 characters; a tab is one column).
/// </summary>
public sealed class SqlException : Exception
{
    public SqlException(string message, int line, int column)
        : base(message)
    {
        Line = line;
        Column = column;
    }

    public SqlException()
        : this("invalid SQL", 1, 1)
    {
    }

    public SqlException(string message)
        : this(message, 1, 1)
    {
    }

    public SqlException(string message, Exception innerException)
        : base(message, innerException)
    {
        Line = 1;
        Column = 1;
    }

    /// <summary>1-based line of the SQL text.</summary>
    public int Line { get; }

    /// <summary>1-based column within <see cref="Line"/>.</summary>
    public int Column { get; }

    /// <summary>0-based character offset in the SQL text.</summary>
    public int Offset { get; init; }

    /// <summary><c>line L col C: message</c>, the form plan errors use.</summary>
    public string Describe() => $"line {Line} col {Column}: {Message}";

    /// <summary>An error at a 0-based character offset of <paramref name="sql"/> (clamped to the text).</summary>
    public static SqlException At(string sql, int offset, string message)
    {
        var (line, column) = SqlText.LineColumn(sql, offset);
        return new SqlException(message, line, column) { Offset = Math.Clamp(offset, 0, sql.Length) };
    }
}
