using System.Text;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;

namespace AiEtl.Engine.Sql;

/// <summary>
/// Parses the streaming SQL dialect:
/// <c>SELECT expr [[AS] name], … | * FROM source [[AS] alias] [WHERE cond] [GROUP BY key | TUMBLE(…) | HOP(…) | SESSION(…), …] [HAVING cond] [;]</c>.
/// Keywords are case-insensitive, <c>"quoted"</c> names are exact, <c>--</c> and <c>/* */</c> are comments,
/// <c>t.col</c> qualifiers must name the FROM table. Every expression is parsed by <see cref="ExprParser.ParseAt"/>,
/// so the expression language is the one the rest of the engine uses. Errors are <see cref="SqlException"/>s with
/// the line and column, what was expected, and a hint for common mistakes.
/// </summary>
public static class SqlParser
{
    /// <summary>Words that end an expression or a clause and so are never read as an implicit alias.</summary>
    private static readonly HashSet<string> NotAliases = new(StringComparer.OrdinalIgnoreCase)
    {
        "INTO", "OVER", "WINDOW", "OFFSET", "FETCH", "QUALIFY", "INTERSECT", "EXCEPT", "LEFT", "RIGHT", "INNER", "OUTER",
        "FULL", "CROSS", "NATURAL", "USING", "LATERAL", "WITH", "VALUES", "RETURNING", "TABLESAMPLE", "EMIT",
    };

    private static readonly HashSet<string> TrailingKeywords = new(StringComparer.OrdinalIgnoreCase)
    {
        "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "FETCH", "UNION", "INTERSECT", "EXCEPT", "WINDOW", "QUALIFY",
    };

    private static readonly string[] ClauseKeywords = ["SELECT", "FROM", "WHERE", "GROUP", "HAVING"];

    private static readonly HashSet<string> NotQueries = new(StringComparer.OrdinalIgnoreCase)
    {
        "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "MERGE", "UPSERT", "VALUES", "TABLE", "EXPLAIN", "SHOW",
        "SET", "COPY", "TRUNCATE", "GRANT", "DESCRIBE", "USE", "BEGIN", "COMMIT",
    };

    /// <summary>Parses one query; throws <see cref="SqlException"/> with the position of the first problem.</summary>
    public static SqlQuery Parse(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var text = SqlText.BlankComments(sql);
        var qualifiers = new List<(string Name, bool Quoted, int Position)>();
        text = StripQualifiers(text, qualifiers);
        var query = new Reader(sql, text).ParseQuery();
        foreach (var (name, quoted, pos) in qualifiers)
        {
            if (query.From.IsNamedBy(name, quoted)) continue;
            var hint = query.From.Alias != null && string.Equals(name, query.From.Name, StringComparison.OrdinalIgnoreCase)
                ? $"; the table is called '{query.From.Alias}' in this query (its alias)"
                : $"; the query reads only '{query.From.Alias ?? query.From.Name}'";
            throw SqlException.At(sql, pos, $"unknown table '{name}' in the qualified name {name}.…{hint}");
        }
        return query;
    }

    /// <summary>Blanks <c>q.</c> qualifiers out of <c>q.name</c> / <c>q.*</c> (offsets are kept) and lists them for checking.</summary>
    private static string StripQualifiers(string text, List<(string, bool, int)> found)
    {
        StringBuilder? sb = null;
        var n = text.Length;
        var i = 0;
        while (i < n)
        {
            var c = text[i];
            if (c == '\'')
            {
                i++;
                while (i < n && !(text[i] == '\'' && (i + 1 >= n || text[i + 1] != '\''))) i += text[i] == '\'' ? 2 : 1;
                i++;
                continue;
            }
            if (char.IsAsciiDigit(c))
            {
                while (i < n && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '_' or '.')) i++;
                continue;
            }
            if (c == '"' || char.IsLetter(c) || c == '_')
            {
                var start = i;
                var quoted = c == '"';
                string name;
                if (quoted)
                {
                    var sbName = new StringBuilder();
                    i++;
                    while (i < n)
                    {
                        if (text[i] == '"')
                        {
                            if (i + 1 < n && text[i + 1] == '"') { sbName.Append('"'); i += 2; continue; }
                            break;
                        }
                        sbName.Append(text[i++]);
                    }
                    if (i >= n) return sb?.ToString() ?? text;
                    i++;
                    name = sbName.ToString();
                }
                else
                {
                    while (i < n && (char.IsLetterOrDigit(text[i]) || text[i] == '_')) i++;
                    name = text[start..i];
                }
                if (i + 1 < n && text[i] == '.' && (char.IsLetter(text[i + 1]) || text[i + 1] is '_' or '"' or '*'))
                {
                    sb ??= new StringBuilder(text);
                    for (var k = start; k <= i; k++) sb[k] = ' ';
                    found.Add((name, quoted, start));
                    i++;
                }
                continue;
            }
            i++;
        }
        return sb?.ToString() ?? text;
    }

    private sealed class Reader(string sql, string text)
    {
        private int _pos;
        // The last word read as an implicit alias: when the next token is unexpected, it may have been a misspelt keyword.
        private (string Word, int Position, int End)? _implicitAlias;

        private SqlException Error(int at, string message) => SqlException.At(sql, at, message);

        private bool AtEnd
        {
            get
            {
                SkipWs();
                return _pos >= text.Length;
            }
        }

        private void SkipWs()
        {
            while (_pos < text.Length && char.IsWhiteSpace(text[_pos])) _pos++;
        }

        private char Peek()
        {
            SkipWs();
            return _pos < text.Length ? text[_pos] : '\0';
        }

        /// <summary>The unquoted word at the current position (not consumed), or null.</summary>
        private string? PeekWord()
        {
            SkipWs();
            if (_pos >= text.Length || !(char.IsLetter(text[_pos]) || text[_pos] == '_')) return null;
            var end = _pos;
            while (end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] == '_')) end++;
            return text[_pos..end];
        }

        private bool AtKeyword(string kw) => string.Equals(PeekWord(), kw, StringComparison.OrdinalIgnoreCase);

        private bool TryKeyword(string kw)
        {
            if (!AtKeyword(kw)) return false;
            _pos += kw.Length;
            return true;
        }

        /// <summary>A name: an unquoted word (not a reserved one) or a "quoted" name.</summary>
        private string? TryName(out bool quoted, bool allowReserved = false)
        {
            SkipWs();
            quoted = false;
            if (_pos >= text.Length) return null;
            if (text[_pos] == '"')
            {
                var start = _pos;
                var sb = new StringBuilder();
                _pos++;
                while (true)
                {
                    if (_pos >= text.Length) throw Error(start, "unterminated quoted name: close it with \" (double quotes are for names; strings take single quotes)");
                    if (text[_pos] == '"')
                    {
                        if (_pos + 1 < text.Length && text[_pos + 1] == '"') { sb.Append('"'); _pos += 2; continue; }
                        _pos++;
                        break;
                    }
                    sb.Append(text[_pos++]);
                }
                if (sb.Length == 0) throw Error(start, "a quoted name cannot be empty");
                quoted = true;
                return sb.ToString();
            }
            var word = PeekWord();
            if (word == null) return null;
            if (!allowReserved && IsKeyword(word)) return null;
            _pos += word.Length;
            return word;
        }

        private static bool IsKeyword(string word) => ExprParser.Reserved.Contains(word) || NotAliases.Contains(word);

        private Expr ParseExpr()
        {
            SkipWs();
            try
            {
                return ExprParser.ParseAt(text, ref _pos);
            }
            catch (ExpressionException e)
            {
                throw Translate(e);
            }
        }

        /// <summary>An expression error in SQL terms, with hints for mistakes people make often.</summary>
        private SqlException Translate(ExpressionException e)
        {
            var at = Math.Clamp(e.Position, 0, text.Length);
            var rest = text.AsSpan(at);
            var word = WordAt(at);
            string message;
            if (rest.StartsWith("=") && at > 0 && text[at - 1] == '=') return Error(at - 1, "unexpected '==': SQL compares with a single = (there is no ==)");
            else if (rest.StartsWith("&&")) message = "unexpected '&&': write AND";
            else if (rest.StartsWith("!") && !rest.StartsWith("!=")) message = "unexpected '!': write NOT (and <> or != for 'not equal')";
            else if (string.Equals(word, "SELECT", StringComparison.OrdinalIgnoreCase)) message = "subqueries are not supported yet";
            else if (string.Equals(word, "FROM", StringComparison.OrdinalIgnoreCase) && PreviousChar(at) == ',') message = "unexpected ',' before FROM: remove the trailing comma";
            else if (e.Message.StartsWith("unterminated quoted name", StringComparison.Ordinal)) message = "unterminated quoted name: close it with \" (double quotes are for names; strings take single quotes)";
            else message = e.Message;
            if (string.Equals(word, "FROM", StringComparison.OrdinalIgnoreCase) && !string.Equals(PreviousWord(at), "SELECT", StringComparison.OrdinalIgnoreCase))
                message = message.Replace(" (is the select list empty?)", "", StringComparison.Ordinal);
            return Error(at, message);
        }

        private string? WordAt(int at)
        {
            if (at >= text.Length || !(char.IsLetter(text[at]) || text[at] == '_')) return null;
            var end = at;
            while (end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] == '_')) end++;
            return text[at..end];
        }

        private string PreviousWord(int at)
        {
            var end = at;
            while (end > 0 && char.IsWhiteSpace(text[end - 1])) end--;
            var start = end;
            while (start > 0 && (char.IsLetterOrDigit(text[start - 1]) || text[start - 1] == '_')) start--;
            return text[start..end];
        }

        private char PreviousChar(int at)
        {
            var i = at - 1;
            while (i >= 0 && char.IsWhiteSpace(text[i])) i--;
            return i >= 0 ? text[i] : '\0';
        }

        /// <summary>"expected X, found Y", with a hint about what is probably missing.</summary>
        private SqlException Unexpected(string expected, string? missing)
        {
            SkipWs();
            var found = SqlText.Found(text, _pos);
            var message = $"expected {expected}, found {found}";
            if (_implicitAlias is { } alias && alias.End <= _pos)
            {
                var keyword = ClauseKeywords.FirstOrDefault(k => Binder.Levenshtein(k, alias.Word.ToUpperInvariant()) is > 0 and <= 2 && alias.Word.Length >= 3);
                if (keyword != null) return Error(alias.Position, $"'{alias.Word}' is read as an alias here; did you mean {keyword}?");
            }
            var c = _pos < text.Length ? text[_pos] : '\0';
            var rest = text.AsSpan(_pos);
            if (rest.StartsWith("&&")) return Error(_pos, $"{message} (write AND instead of &&)");
            if (rest.StartsWith("!") && !rest.StartsWith("!=")) return Error(_pos, $"{message} (write NOT instead of !)");
            if (WordAt(_pos) is { Length: >= 3 } w && ClauseKeywords.FirstOrDefault(k => Binder.Levenshtein(k, w.ToUpperInvariant()) is > 0 and <= 2) is { } near)
                return Error(_pos, $"{message} (did you mean {near}?)");
            if (missing != null && (char.IsLetterOrDigit(c) || c is '_' or '\'' or '"' or '(')) message += $" ({missing})";
            else if (c == '=' && _pos + 1 < text.Length && text[_pos + 1] == '=') message += " (SQL compares with a single =)";
            return Error(_pos, message);
        }

        public SqlQuery ParseQuery()
        {
            if (AtEnd) throw Error(_pos, "the query is empty: expected SELECT … FROM …");
            var first = PeekWord();
            if (TryKeyword("WITH")) throw Error(_pos - 4, "WITH (common table expressions) is not supported yet");
            if (first != null && NotQueries.Contains(first))
                throw Error(_pos, $"only SELECT queries are supported, not {first.ToUpperInvariant()}: the transform reads the source and its rows go to the sinks");
            if (Peek() == '(') throw Error(_pos, "a query in parentheses is not supported yet: write SELECT … FROM … directly");
            if (!TryKeyword("SELECT")) throw Unexpected("SELECT at the start of the query", null);
            SkipWs();
            if (AtKeyword("DISTINCT"))
                throw Error(_pos, "SELECT DISTINCT is not supported yet: GROUP BY the selected columns instead");
            TryKeyword("ALL");

            var items = ParseSelectList();
            var from = ParseFrom();

            Expr? where = null, having = null;
            var groupBy = new List<GroupItem>();
            int groupByPos = -1, havingPos = -1;
            var stage = 0;
            while (true)
            {
                SkipWs();
                var at = _pos;
                if (TryKeyword("WHERE"))
                {
                    if (stage == 1) throw Error(at, "WHERE appears twice: combine the conditions with AND");
                    if (stage > 1) throw Error(at, $"WHERE must come before {(stage == 2 ? "GROUP BY" : "HAVING")}");
                    where = ParseExpr();
                    stage = 1;
                    continue;
                }
                if (AtKeyword("GROUP"))
                {
                    if (stage == 2) throw Error(at, "GROUP BY appears twice: list all keys in one GROUP BY, separated by commas");
                    if (stage > 2) throw Error(at, "GROUP BY must come before HAVING");
                    TryKeyword("GROUP");
                    if (!TryKeyword("BY")) throw Unexpected("BY after GROUP", null);
                    groupByPos = at;
                    ParseGroupBy(groupBy);
                    stage = 2;
                    continue;
                }
                if (TryKeyword("HAVING"))
                {
                    if (stage == 3) throw Error(at, "HAVING appears twice: combine the conditions with AND");
                    havingPos = at;
                    having = ParseExpr();
                    stage = 3;
                    continue;
                }
                break;
            }
            ParseEnd(stage);
            return new SqlQuery(text, items, from, where, groupBy, groupByPos, having, havingPos);
        }

        private List<SelectItem> ParseSelectList()
        {
            var items = new List<SelectItem>();
            if (AtKeyword("FROM")) throw Error(_pos, "the select list is empty: name the columns (or *) before FROM");
            if (AtEnd) throw Error(_pos, "expected the select list after SELECT, found the end of the query");
            while (true)
            {
                SkipWs();
                var at = _pos;
                if (text[_pos] == '*')
                {
                    _pos++;
                    items.Add(new StarItem(at));
                }
                else
                {
                    var expr = ParseExpr();
                    string? alias = null;
                    SkipWs();
                    var aliasAt = _pos;
                    if (TryKeyword("AS"))
                    {
                        SkipWs();
                        aliasAt = _pos;
                        var word = PeekWord();
                        alias = TryName(out _);
                        if (alias == null)
                            throw word != null
                                ? Error(aliasAt, $"expected a name after AS, found the keyword {word.ToUpperInvariant()} (quote it to use it as a name: \"{word.ToLowerInvariant()}\")")
                                : Unexpected("a name after AS", null);
                    }
                    else if (TryName(out _) is { } implicitAlias)
                    {
                        alias = implicitAlias;
                        _implicitAlias = (implicitAlias, aliasAt, _pos);
                    }
                    items.Add(new ExprItem(expr, alias, at));
                }
                SkipWs();
                if (_pos < text.Length && text[_pos] == ',')
                {
                    var comma = _pos++;
                    if (AtKeyword("FROM")) throw Error(comma, "unexpected ',' before FROM: remove the trailing comma");
                    if (AtEnd) throw Error(_pos, "expected another select item after ',', found the end of the query");
                    _implicitAlias = null;
                    continue;
                }
                return items;
            }
        }

        private TableRef ParseFrom()
        {
            SkipWs();
            if (!TryKeyword("FROM"))
            {
                if (AtEnd) throw Error(_pos, "expected FROM <source> after the select list, found the end of the query");
                var word = PeekWord();
                if (string.Equals(word, "INTO", StringComparison.OrdinalIgnoreCase))
                    throw Error(_pos, "SELECT … INTO is not supported: the transform's rows go to the pipeline's sinks");
                if (string.Equals(word, "OVER", StringComparison.OrdinalIgnoreCase))
                    throw Error(_pos, "window functions (OVER …) are not supported yet; for event-time windows use GROUP BY TUMBLE/HOP/SESSION");
                if (word != null && (string.Equals(word, "WHERE", StringComparison.OrdinalIgnoreCase) || string.Equals(word, "GROUP", StringComparison.OrdinalIgnoreCase) || string.Equals(word, "HAVING", StringComparison.OrdinalIgnoreCase)))
                    throw Error(_pos, $"expected FROM <source> before {word.ToUpperInvariant()}");
                throw Unexpected("',' or FROM after the select item", "is a comma missing between the select items?");
            }
            _implicitAlias = null;
            SkipWs();
            var at = _pos;
            if (Peek() == '(') throw Error(_pos, "subqueries in FROM are not supported yet: name the source directly");
            var kw = PeekWord();
            var name = TryName(out var quoted);
            if (name == null)
            {
                if (kw != null) throw Error(at, $"expected the source name after FROM, found the keyword {kw.ToUpperInvariant()}");
                throw Unexpected("the source name after FROM", null);
            }
            if (_pos < text.Length && text[_pos] == '.') throw Error(_pos, "qualified table names are not supported: write FROM <source name>");
            if (Peek() == '(')
                throw Error(_pos, $"table functions such as {name}(…) are not supported: read FROM the source and put TUMBLE/HOP/SESSION in GROUP BY");
            string? alias = null;
            if (TryKeyword("AS"))
            {
                SkipWs();
                var aliasAt = _pos;
                var word = PeekWord();
                alias = TryName(out _);
                if (alias == null)
                    throw word != null ? Error(aliasAt, $"expected an alias after AS, found the keyword {word.ToUpperInvariant()}") : Unexpected("an alias after AS", null);
            }
            else
            {
                SkipWs();
                var aliasAt = _pos;
                if (TryName(out _) is { } implicitAlias)
                {
                    alias = implicitAlias;
                    _implicitAlias = (implicitAlias, aliasAt, _pos);
                }
            }
            if (Peek() == '(') throw Error(_pos, "column aliases on the FROM table are not supported");
            SkipWs();
            if (Peek() == ',') throw Error(_pos, "joins are not supported yet (FROM a, b)");
            var join = PeekWord()?.ToUpperInvariant();
            if (join is "JOIN" or "LEFT" or "RIGHT" or "INNER" or "FULL" or "CROSS" or "NATURAL" or "OUTER" or "LATERAL")
                throw Error(_pos, "joins are not supported yet");
            return new TableRef(name, quoted, alias, at);
        }

        private void ParseGroupBy(List<GroupItem> items)
        {
            if (AtEnd) throw Error(_pos, "expected a grouping key after GROUP BY, found the end of the query");
            while (true)
            {
                SkipWs();
                var at = _pos;
                var e = ParseExpr();
                if (e is CallExpr { Name: "tumble" or "hop" or "session" } call)
                {
                    var window = ParseWindow(call);
                    if (items.OfType<WindowItem>().Any()) throw Error(at, "only one window (TUMBLE, HOP or SESSION) is allowed in GROUP BY");
                    items.Add(window);
                }
                else items.Add(new KeyItem(e, at));
                SkipWs();
                if (_pos < text.Length && text[_pos] == ',')
                {
                    var comma = _pos++;
                    if (AtEnd) throw Error(comma, "unexpected ',' at the end of GROUP BY: remove it or add a key");
                    if (PeekWord() is { } next && TrailingKeywords.Contains(next))
                        throw Error(comma, $"unexpected ',' before {next.ToUpperInvariant()}: remove the trailing comma");
                    continue;
                }
                return;
            }
        }

        private WindowItem ParseWindow(CallExpr call)
        {
            var fn = call.Name.ToUpperInvariant();
            var usage = call.Name switch
            {
                "tumble" => "TUMBLE(time_column, INTERVAL '1' MINUTE)",
                "hop" => "HOP(time_column, slide, size), e.g. HOP(ts, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE)",
                _ => "SESSION(time_column, gap), e.g. SESSION(ts, INTERVAL '30' MINUTE)",
            };
            var arity = call.Name == "hop" ? 3 : 2;
            if (call.Star || call.Distinct || call.Filter != null || call.Args.Count != arity)
                throw Error(call.Position, $"{fn} takes {arity} arguments: {usage}");
            var sizes = new long[arity - 1];
            for (var k = 1; k < arity; k++)
            {
                var arg = call.Args[k];
                if (arg is not IntervalLiteral interval)
                {
                    var hint = arg is Literal { Value: long or double } ? " (write INTERVAL '5' MINUTE rather than a bare number)" : "";
                    throw Error(arg.Position, $"the {(call.Name == "hop" ? (k == 1 ? "slide" : "size") : call.Name == "session" ? "gap" : "size")} of {fn} must be an INTERVAL literal, e.g. INTERVAL '1' MINUTE{hint}");
                }
                if (interval.Months != 0)
                    throw Error(arg.Position, $"{fn} needs a fixed-size interval, not one in months or years (they have no fixed length); " +
                        "use DAY or smaller units, or GROUP BY date_trunc('month', ts) for calendar months");
                if (interval.Micros <= 0) throw Error(arg.Position, $"the interval of {fn} must be positive, got '{interval.Text}'");
                sizes[k - 1] = interval.Micros;
            }
            return call.Name switch
            {
                "tumble" => new WindowItem(WindowKind.Tumble, call.Args[0], sizes[0], sizes[0], 0, call.Position),
                "hop" => new WindowItem(WindowKind.Hop, call.Args[0], sizes[1], sizes[0], 0, call.Position),
                _ => new WindowItem(WindowKind.Session, call.Args[0], 0, 0, sizes[0], call.Position),
            };
        }

        private void ParseEnd(int stage)
        {
            SkipWs();
            if (_pos < text.Length && text[_pos] == ';')
            {
                _pos++;
                if (!AtEnd) throw Error(_pos, "only one statement is allowed: remove what follows ';'");
                return;
            }
            if (_pos >= text.Length) return;
            var word = PeekWord()?.ToUpperInvariant();
            switch (word)
            {
                case "ORDER":
                    throw Error(_pos, "ORDER BY is not supported yet: a stream has no end to sort; order the rows where the sink writes them");
                case "LIMIT" or "OFFSET" or "FETCH":
                    throw Error(_pos, $"{word} is not supported yet");
                case "UNION" or "INTERSECT" or "EXCEPT":
                    throw Error(_pos, $"{word} is not supported yet");
                case "WINDOW" or "QUALIFY" or "EMIT":
                    throw Error(_pos, $"{word} is not supported yet");
                case "JOIN" or "LEFT" or "RIGHT" or "INNER" or "FULL" or "CROSS" or "NATURAL":
                    throw Error(_pos, "joins are not supported yet");
                case "SELECT":
                    throw Error(_pos, "only one statement is allowed (is a ';' or a UNION missing? UNION is not supported yet)");
                case "FROM":
                    throw Error(_pos, "FROM appears twice");
            }
            throw stage switch
            {
                0 => Unexpected("WHERE, GROUP BY, HAVING or the end of the query", null),
                1 => Unexpected("GROUP BY, HAVING or the end of the query after the WHERE condition", "is an AND or OR missing?"),
                2 => Unexpected("',', HAVING or the end of the query after the GROUP BY key", "is a comma missing between the keys?"),
                _ => Unexpected("the end of the query after the HAVING condition", "is an AND or OR missing?"),
            };
        }
    }
}
