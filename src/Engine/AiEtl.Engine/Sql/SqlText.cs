using System.Text;

namespace AiEtl.Engine.Sql;

/// <summary>Lexical helpers over SQL text: comment removal that keeps every position, positions as line:column.</summary>
public static class SqlText
{
    /// <summary>The 1-based line and column of a 0-based offset (clamped to the text).</summary>
    public static (int Line, int Column) LineColumn(string text, int offset)
    {
        offset = Math.Clamp(offset, 0, text.Length);
        var line = 1;
        var lineStart = 0;
        for (var i = 0; i < offset; i++)
        {
            if (text[i] == '\n')
            {
                line++;
                lineStart = i + 1;
            }
        }
        return (line, offset - lineStart + 1);
    }

    /// <summary>
    /// Replaces <c>-- line</c> and <c>/* block */</c> comments (nested, as in PostgreSQL) by spaces, keeping
    /// line breaks, so that every other character keeps its offset. Quoted strings and names are left as they are.
    /// </summary>
    public static string BlankComments(string sql)
    {
        StringBuilder? sb = null;
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (c is '\'' or '"')
            {
                i++;
                while (i < sql.Length)
                {
                    if (sql[i] == c)
                    {
                        if (i + 1 < sql.Length && sql[i + 1] == c) { i += 2; continue; }
                        break;
                    }
                    i++;
                }
                i++;
                continue;
            }
            if (c == '-' && i + 1 < sql.Length && sql[i + 1] == '-')
            {
                sb ??= new StringBuilder(sql);
                while (i < sql.Length && sql[i] != '\n') sb[i++] = ' ';
                continue;
            }
            if (c == '/' && i + 1 < sql.Length && sql[i + 1] == '*')
            {
                sb ??= new StringBuilder(sql);
                var start = i;
                var depth = 0;
                while (true)
                {
                    if (i >= sql.Length) throw SqlException.At(sql, start, "unterminated /* comment: close it with */");
                    if (sql[i] == '/' && i + 1 < sql.Length && sql[i + 1] == '*')
                    {
                        depth++;
                        sb[i] = ' ';
                        sb[i + 1] = ' ';
                        i += 2;
                        continue;
                    }
                    if (sql[i] == '*' && i + 1 < sql.Length && sql[i + 1] == '/')
                    {
                        sb[i] = ' ';
                        sb[i + 1] = ' ';
                        i += 2;
                        if (--depth == 0) break;
                        continue;
                    }
                    if (sql[i] != '\n') sb[i] = ' ';
                    i++;
                }
                continue;
            }
            i++;
        }
        return sb?.ToString() ?? sql;
    }

    /// <summary>A short, printable rendering of the text at an offset, for "found …" in messages.</summary>
    public static string Found(string text, int offset)
    {
        if (offset >= text.Length) return "the end of the query";
        var c = text[offset];
        if (char.IsLetter(c) || c == '_')
        {
            var end = offset;
            while (end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] == '_') && end - offset < 40) end++;
            return $"'{text[offset..end]}'";
        }
        if (char.IsAsciiDigit(c))
        {
            var end = offset;
            while (end < text.Length && (char.IsAsciiDigit(text[end]) || text[end] == '.') && end - offset < 40) end++;
            return $"'{text[offset..end]}'";
        }
        if (char.IsControl(c) || char.IsSurrogate(c) || c == '\uFFFD') return $"the character U+{(int)c:X4}";
        return $"'{c}'";
    }
}
