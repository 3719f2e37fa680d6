using System.Runtime.CompilerServices;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Sql;

/// <summary>The table a query reads: a pipeline source, its schema, and its event-time declaration.</summary>
/// <param name="Name">The source's name (the table name in FROM).</param>
/// <param name="Schema">The source's columns.</param>
/// <param name="IsBounded">True when the input ends (files, a generator with a row count).</param>
/// <param name="EventTimeColumn">The <c>event_time</c> column, if declared (windows must use it).</param>
/// <param name="AllowedLatenessMicros">How long a window stays open after the watermark passes its end.</param>
public sealed record SqlSource(string Name, Schema Schema, bool IsBounded, string? EventTimeColumn = null, long AllowedLatenessMicros = 0);

/// <summary>The aggregation step of a plan: keys, window and aggregates over the pre-aggregation columns.</summary>
public sealed class SqlAggregation
{
    /// <summary>Key column indexes in <see cref="SqlPlan.PreSchema"/> (also the hash-partitioning keys).</summary>
    public required IReadOnlyList<int> KeyColumns { get; init; }
    public required WindowSpec Window { get; init; }
    public required IReadOnlyList<AggregateSpec> Aggregates { get; init; }
    /// <summary>The aggregate operator's output: keys, window_start/window_end (with a window), aggregates.</summary>
    public required Schema OutputSchema { get; init; }
}

/// <summary>
/// A compiled query. The physical plan is: <see cref="CreatePreOperator"/> (WHERE plus the columns the
/// aggregation needs, one filter+project pass) → a hash edge on <see cref="SqlAggregation.KeyColumns"/> →
/// <see cref="CreateAggregateOperator"/> → <see cref="CreatePostOperator"/> (HAVING and the final select
/// list). A query without aggregation is the first operator alone.
/// </summary>
public sealed class SqlPlan
{
    public required SqlQuery Query { get; init; }
    public required LogicalPlan Logical { get; init; }
    /// <summary>The source's schema (the input of the first operator).</summary>
    public required Schema InputSchema { get; init; }
    public VExpr? Where { get; init; }
    /// <summary>The first operator's projection, or null when it passes the input columns through.</summary>
    public IReadOnlyList<NamedVExpr>? PreProjection { get; init; }
    /// <summary>The first operator's output schema.</summary>
    public required Schema PreSchema { get; init; }
    /// <summary>Null for a query without GROUP BY or aggregates.</summary>
    public SqlAggregation? Aggregation { get; init; }
    public VExpr? Having { get; init; }
    /// <summary>The projection after the aggregation, or null when the aggregate's output is already the result.</summary>
    public IReadOnlyList<NamedVExpr>? PostProjection { get; init; }
    /// <summary>The query's result columns.</summary>
    public required Schema OutputSchema { get; init; }

    /// <summary>The first (stateless) operator, or null when the query reads the source unchanged.</summary>
    public FilterProjectOperator? CreatePreOperator() =>
        Where == null && PreProjection == null ? null : new FilterProjectOperator(InputSchema, Where, Tuples(PreProjection));

    /// <summary>The stateful aggregate operator (only for aggregating queries).</summary>
    public WindowAggregateOperator CreateAggregateOperator()
    {
        var a = Aggregation ?? throw new InvalidOperationException("the query does not aggregate");
        return new WindowAggregateOperator(PreSchema, a.KeyColumns, a.Window, a.Aggregates);
    }

    /// <summary>HAVING and the final select list after the aggregation, or null when none is needed.</summary>
    public FilterProjectOperator? CreatePostOperator()
    {
        var a = Aggregation ?? throw new InvalidOperationException("the query does not aggregate");
        return Having == null && PostProjection == null ? null : new FilterProjectOperator(a.OutputSchema, Having, Tuples(PostProjection));
    }

    private static List<(string Name, VExpr Expr)>? Tuples(IReadOnlyList<NamedVExpr>? list) => list?.Select(c => (c.Name, c.Expr)).ToList();
}

/// <summary>Compiles streaming SQL against a source: parse, resolve names and types, logical and physical plan.</summary>
public static class SqlCompiler
{
    /// <summary>Deepest expression tree accepted (deeper ones are an error, never a stack overflow).</summary>
    public const int MaxExpressionDepth = 500;

    /// <summary>Compiles <paramref name="sql"/>; every problem is a <see cref="SqlException"/> with its line and column.</summary>
    public static SqlPlan Compile(string sql, SqlSource source)
    {
        ArgumentNullException.ThrowIfNull(sql);
        ArgumentNullException.ThrowIfNull(source);
        var query = SqlParser.Parse(sql);
        return new Compilation(sql, query, source).Plan();
    }

    private static readonly HashSet<string> AggregateNames = ["count", "sum", "min", "max", "avg", "approx_count_distinct"];

    internal static bool IsAggregateCall(Expr e) =>
        e is CallExpr c && (AggregateNames.Contains(c.Name) || c.Star || c.Distinct || c.Filter != null);

    internal static bool IsWindowCall(Expr e) => e is CallExpr { Name: "tumble" or "hop" or "session" };

    private sealed class Compilation(string sql, SqlQuery q, SqlSource src)
    {
        private readonly Schema _input = src.Schema;
        private readonly string _text = q.Text;

        // Pre-aggregation columns (keys first), deduplicated by their description.
        private readonly List<NamedVExpr> _pre = [];
        private readonly Dictionary<string, int> _preIndex = new(StringComparer.Ordinal);
        private readonly HashSet<string> _preNames = new(StringComparer.Ordinal);

        // Aggregation state, filled while the select list and HAVING are bound.
        private readonly List<NamedVExpr> _keys = [];
        private readonly Dictionary<string, int> _keyIndex = new(StringComparer.Ordinal);
        private bool _expressionKeys;
        private LogicalWindow? _window;
        private WindowItem? _windowItem;
        private int _windowTimeColumn = -1;
        private readonly List<(AggregateSpec Spec, LogicalAggregateCall Call, ColumnKind Kind)> _aggs = [];
        private readonly Dictionary<(AggregateFunction, int, int), int> _aggIndex = [];
        private readonly HashSet<string> _aggOutputNames = new(StringComparer.Ordinal);
        private ExprItem? _currentItem;
        private bool _inHaving;
        private bool _inHavingAlias;

        private SqlException Err(int position, string message) => SqlException.At(sql, position, message);

        public SqlPlan Plan()
        {
            CheckTable();
            foreach (var e in AllExpressions())
            {
                if (ExprTree.Depth(e, MaxExpressionDepth) > MaxExpressionDepth)
                    throw Err(e.Position, $"the expression is nested too deeply (more than {MaxExpressionDepth} levels)");
            }
            var aggregating = q.GroupBy.Count > 0 || q.Having != null ||
                q.Items.OfType<ExprItem>().Any(i => ExprTree.Find(i.Expr, IsAggregateCall) != null);
            return aggregating ? PlanAggregate() : PlanStateless();
        }

        private IEnumerable<Expr> AllExpressions()
        {
            foreach (var i in q.Items.OfType<ExprItem>()) yield return i.Expr;
            if (q.Where != null) yield return q.Where;
            foreach (var g in q.GroupBy) yield return g is KeyItem k ? k.Expr : ((WindowItem)g).Time;
            if (q.Having != null) yield return q.Having;
        }

        private void CheckTable()
        {
            var from = q.From;
            var matches = from.Quoted ? from.Name == src.Name : string.Equals(from.Name, src.Name, StringComparison.OrdinalIgnoreCase);
            if (!matches)
                throw Err(from.Position, $"unknown table '{from.Name}': the pipeline's source is named '{src.Name}' (write FROM {src.Name})");
        }

        // ---- binding helpers ------------------------------------------------------------------------

        private VExpr Bind(Binder binder, Expr e)
        {
            try
            {
                return binder.Bind(e);
            }
            catch (ExpressionException x)
            {
                throw Err(x.Position, x.Message);
            }
            catch (InsufficientExecutionStackException)
            {
                throw Err(e.Position, "the expression is nested too deeply");
            }
        }

        private static bool Resolves(Schema schema, string name)
        {
            var fields = schema.FieldsList;
            var ci = 0;
            foreach (var f in fields)
            {
                if (f.Name == name) return true;
                if (string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase)) ci++;
            }
            return ci == 1;
        }

        private bool IsQuotedAt(int position) => position >= 0 && position < _text.Length && _text[position] == '"';

        private static bool IsWindowColumnName(string name) =>
            string.Equals(name, "window_start", StringComparison.OrdinalIgnoreCase) || string.Equals(name, "window_end", StringComparison.OrdinalIgnoreCase);

        /// <summary>An error for a name that is not a source column, with a hint when the mistake is a common one (null: the binder's own message).</summary>
        private SqlException? UnknownColumn(ColumnRef c, string clause)
        {
            if (IsQuotedAt(c.Position))
                return Err(c.Position, $"unknown column \"{c.Name}\": double quotes are for names; write strings in single quotes: '{c.Name.Replace("'", "''", StringComparison.Ordinal)}'");
            if (IsWindowColumnName(c.Name))
            {
                return _windowItem == null
                    ? Err(c.Position, $"{c.Name.ToLowerInvariant()} is defined only when the query groups by a window: GROUP BY …, TUMBLE(ts, INTERVAL '1' MINUTE)")
                    : Err(c.Position, $"{c.Name.ToLowerInvariant()} exists only after the aggregation: it cannot be used in {clause}");
            }
            if (IsOtherItemsAlias(c))
                return Err(c.Position, $"unknown column '{c.Name}': it is a name given in the select list, which {clause} cannot refer to; repeat the expression instead");
            return null;
        }

        /// <summary>True when the name is the alias of a select item other than the one it appears in.</summary>
        private bool IsOtherItemsAlias(ColumnRef c) => q.Items.OfType<ExprItem>().Any(i =>
            i.Alias != null && string.Equals(i.Alias, c.Name, StringComparison.OrdinalIgnoreCase) && ExprTree.Find(i.Expr, n => ReferenceEquals(n, c)) == null);

        /// <summary>Binding of source-level expressions (WHERE, GROUP BY keys, aggregate arguments, stateless select lists).</summary>
        private Binder SourceBinder(string clause) => new(_input, e =>
        {
            RuntimeHelpers.EnsureSufficientExecutionStack();
            if (IsAggregateCall(e))
            {
                var c = (CallExpr)e;
                if (!AggregateNames.Contains(c.Name))
                    throw Err(e.Position, $"{c.Name}(…) is not an aggregate function: *, DISTINCT and FILTER go with count, sum, min, max, avg and approx_count_distinct");
                throw Err(e.Position, clause switch
                {
                    "WHERE" => $"aggregate functions are not allowed in WHERE: filter groups with HAVING {c.Name}(…) …",
                    "an aggregate's argument" => "aggregate calls cannot be nested",
                    _ => $"aggregate functions are not allowed in {clause}",
                });
            }
            if (IsWindowCall(e))
            {
                var name = ((CallExpr)e).Name.ToUpperInvariant();
                throw Err(e.Position, q.GroupBy.Count == 0 && clause == "the select list"
                    ? $"{name}(…) is a window and belongs in GROUP BY: GROUP BY key, {name}(ts, …); then select window_start and window_end"
                    : $"{name}(…) can only be used as a GROUP BY item; select window_start and window_end to see the window");
            }
            if (e is ColumnRef c2 && !Resolves(_input, c2.Name) && UnknownColumn(c2, clause) is { } err) throw err;
            return null;
        });

        private static VExpr RequireBool(VExpr v) => v is LiteralVExpr { Value: null } ? new LiteralVExpr(null, ColumnKind.Bool) : v;

        private VExpr BindCondition(Binder binder, Expr e, string clause)
        {
            var v = RequireBool(Bind(binder, e));
            if (v.Kind != ColumnKind.Bool)
                throw Err(e.Position, $"{clause} needs a boolean condition, not a {ColumnTypes.Name(v.Kind)} expression");
            return v;
        }

        /// <summary>The result name of an unnamed select item, as PostgreSQL derives it.</summary>
        private static string DerivedName(Expr e, VExpr bound) => e switch
        {
            ColumnRef when bound is ColumnVExpr c => c.Name,
            ColumnRef c => c.Name,
            CallExpr c => c.Name,
            CastExpr { Operand: ColumnRef r } => r.Name,
            CastExpr { Operand: CallExpr f } => f.Name,
            CastExpr c => ColumnTypes.Name(c.To),
            _ => "?column?",
        };

        private string OutputName(ExprItem item, VExpr bound, HashSet<string> taken)
        {
            var name = item.Alias ?? (item.Expr is ColumnRef && bound is ColumnVExpr col ? col.Name : DerivedName(item.Expr, bound));
            if (!taken.Add(name))
            {
                throw Err(item.Position, item.Alias != null
                    ? $"the output column name '{name}' is used twice: every result column needs its own name"
                    : $"the output column name '{name}' is used twice: name this column with AS (e.g. … AS {(name == "?column?" ? "total" : name + "_2")})");
            }
            return name;
        }

        // ---- a query without aggregation ---------------------------------------------------------------

        private SqlPlan PlanStateless()
        {
            LogicalPlan plan = new LogicalScan(src.Name, _input);
            VExpr? where = null;
            if (q.Where != null)
            {
                where = BindCondition(SourceBinder("WHERE"), q.Where, "WHERE");
                plan = new LogicalFilter(plan, where);
            }
            var binder = SourceBinder("the select list");
            var columns = new List<NamedVExpr>();
            var taken = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in q.Items)
            {
                if (item is StarItem star)
                {
                    for (var i = 0; i < _input.FieldsList.Count; i++)
                    {
                        var f = _input.FieldsList[i];
                        if (!taken.Add(f.Name)) throw Err(star.Position, $"the output column name '{f.Name}' is used twice: every result column needs its own name");
                        columns.Add(new NamedVExpr(f.Name, new ColumnVExpr(i, f.Name, ColumnTypes.FromArrow(f.DataType))));
                    }
                    continue;
                }
                var e = (ExprItem)item;
                var v = Bind(binder, e.Expr);
                columns.Add(new NamedVExpr(OutputName(e, v, taken), v));
            }
            plan = new LogicalProject(plan, columns);
            var identity = IsIdentity(columns, _input);
            var output = new Schema(columns.Select(c => ColumnTypes.Field(c.Name, c.Expr.Kind)), null);
            return new SqlPlan
            {
                Query = q,
                Logical = plan,
                InputSchema = _input,
                Where = where,
                PreProjection = identity ? null : columns,
                PreSchema = identity ? _input : output,
                OutputSchema = identity ? _input : output,
            };
        }

        private static bool IsIdentity(IReadOnlyList<NamedVExpr> columns, Schema input)
        {
            if (columns.Count != input.FieldsList.Count) return false;
            for (var i = 0; i < columns.Count; i++)
                if (columns[i].Expr is not ColumnVExpr c || c.Index != i || columns[i].Name != input.FieldsList[i].Name) return false;
            return true;
        }

        // ---- an aggregating query -----------------------------------------------------------------------

        private int AddPre(VExpr v, string name)
        {
            var key = ColumnTypes.Name(v.Kind) + ":" + v.Describe();
            if (_preIndex.TryGetValue(key, out var index)) return index;
            var unique = name;
            for (var n = 2; !_preNames.Add(unique) || IsWindowColumnName(unique); n++) unique = $"{name}_{n}";
            _pre.Add(new NamedVExpr(unique, v));
            _preIndex[key] = _pre.Count - 1;
            return _pre.Count - 1;
        }

        private int WindowColumns => _windowItem != null ? 2 : 0;

        private SqlPlan PlanAggregate()
        {
            if (q.Items.OfType<StarItem>().FirstOrDefault() is { } star)
                throw Err(star.Position, "SELECT * cannot be used with GROUP BY or aggregates: list the grouped columns and the aggregates");
            LogicalPlan plan = new LogicalScan(src.Name, _input);
            VExpr? where = null;
            if (q.Where != null)
            {
                where = BindCondition(SourceBinder("WHERE"), q.Where, "WHERE");
                plan = new LogicalFilter(plan, where);
            }

            _windowItem = q.Window;
            ResolveKeys();
            if (_windowItem != null) ResolveWindow(_windowItem);
            if (_windowItem == null && !src.IsBounded)
            {
                var at = q.GroupByPosition >= 0 ? q.GroupByPosition
                    : q.Items.OfType<ExprItem>().Select(i => ExprTree.Find(i.Expr, IsAggregateCall)?.Position).FirstOrDefault(p => p != null) ?? 0;
                throw Err(at, $"an aggregation without a window never completes on an unbounded source ('{src.Name}' has no end): " +
                    "add a window to GROUP BY, e.g. GROUP BY …, TUMBLE(ts, INTERVAL '1' MINUTE)");
            }

            // Bind the select list and HAVING above the aggregate; this registers the aggregates.
            var post = new Binder(new Schema([], null), PostResolve);
            var columns = new List<NamedVExpr>();
            var taken = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in q.Items.Cast<ExprItem>())
            {
                _currentItem = item;
                var v = Bind(post, item.Expr);
                columns.Add(new NamedVExpr(OutputName(item, v, taken), v));
            }
            _currentItem = null;
            VExpr? having = null;
            if (q.Having != null)
            {
                _inHaving = true;
                having = BindCondition(post, q.Having, "HAVING");
                _inHaving = false;
            }

            var keyColumns = Enumerable.Range(0, _keys.Count).ToList();
            var window = _windowItem == null
                ? new WindowSpec(WindowKind.None, -1, 0, 0, 0, 0)
                : new WindowSpec(_windowItem.Kind, _windowTimeColumn, _windowItem.SizeMicros, _windowItem.SlideMicros, _windowItem.GapMicros, src.AllowedLatenessMicros);
            var preSchema = new Schema(_pre.Select(c => ColumnTypes.Field(c.Name, c.Expr.Kind)), null);
            var aggregates = _aggs.Select(a => a.Spec).ToList();
            var aggOutput = new WindowAggregateOperator(preSchema, keyColumns, window, aggregates).OutputSchema;
            CheckAggregateSchema(aggOutput);

            plan = new LogicalAggregate(plan, _keys, _window, _aggs.Select(a => a.Call).ToList());
            if (having != null) plan = new LogicalHaving(plan, having);
            plan = new LogicalProject(plan, columns);

            var identity = IsIdentity(columns, aggOutput);
            var preIdentity = where == null && IsIdentity(_pre, _input);
            return new SqlPlan
            {
                Query = q,
                Logical = plan,
                InputSchema = _input,
                Where = where,
                PreProjection = preIdentity ? null : _pre,
                PreSchema = preIdentity ? _input : preSchema,
                Aggregation = new SqlAggregation { KeyColumns = keyColumns, Window = window, Aggregates = aggregates, OutputSchema = aggOutput },
                Having = having,
                PostProjection = identity ? null : columns,
                OutputSchema = identity ? aggOutput : new Schema(columns.Select(c => ColumnTypes.Field(c.Name, c.Expr.Kind)), null),
            };
        }

        /// <summary>The aggregate operator's schema must be the one the select list was bound against.</summary>
        private void CheckAggregateSchema(Schema aggOutput)
        {
            var expected = _keys.Select(k => k.Expr.Kind).ToList();
            if (_windowItem != null) expected.AddRange([ColumnKind.Timestamp, ColumnKind.Timestamp]);
            expected.AddRange(_aggs.Select(a => a.Kind));
            var actual = aggOutput.FieldsList.Select(f => ColumnTypes.FromArrow(f.DataType)).ToList();
            if (!expected.SequenceEqual(actual))
                throw new InvalidOperationException($"the window aggregate's output ({string.Join(", ", actual)}) differs from the planned one ({string.Join(", ", expected)})");
        }

        private void ResolveKeys()
        {
            var binder = SourceBinder("GROUP BY");
            foreach (var item in q.GroupBy.OfType<KeyItem>())
            {
                var e = item.Expr;
                if (e is Literal { Value: long ordinal })
                {
                    if (ordinal < 1 || ordinal > q.Items.Count)
                        throw Err(e.Position, $"GROUP BY position {ordinal} is not in the select list (it has {q.Items.Count} item{(q.Items.Count == 1 ? "" : "s")})");
                    if (q.Items[(int)ordinal - 1] is not ExprItem target)
                        throw Err(e.Position, $"GROUP BY position {ordinal} refers to *");
                    if (ExprTree.Find(target.Expr, IsAggregateCall) != null)
                        throw Err(e.Position, $"GROUP BY position {ordinal} refers to an aggregate, which cannot be grouped by");
                    e = target.Expr;
                }
                else if (e is ColumnRef c && !Resolves(_input, c.Name) && !IsQuotedAt(c.Position))
                {
                    if (_windowItem != null && IsWindowColumnName(c.Name)) continue;   // implied by the window
                    var aliased = q.Items.OfType<ExprItem>().Where(i => i.Alias != null && string.Equals(i.Alias, c.Name, StringComparison.OrdinalIgnoreCase)).ToList();
                    if (aliased.Count == 1)
                    {
                        if (ExprTree.Find(aliased[0].Expr, IsAggregateCall) != null)
                            throw Err(e.Position, $"'{c.Name}' is an aggregate in the select list; it cannot be grouped by");
                        e = aliased[0].Expr;
                    }
                }
                var v = Bind(binder, e);
                var key = ColumnTypes.Name(v.Kind) + ":" + v.Describe();
                if (_keyIndex.ContainsKey(key)) continue;
                if (v is not ColumnVExpr) _expressionKeys = true;
                var name = v is ColumnVExpr col ? col.Name : AliasOf(v) ?? v.Describe();
                var index = AddPre(v, name);
                if (index != _keys.Count) throw new InvalidOperationException("keys must be the first pre-aggregation columns");
                _keyIndex[key] = index;
                _keys.Add(new NamedVExpr(_pre[index].Name, v));
            }
        }

        /// <summary>The alias of a select item computing the same expression as a key (names the key column in plans).</summary>
        private string? AliasOf(VExpr key)
        {
            foreach (var item in q.Items.OfType<ExprItem>())
            {
                if (item.Alias == null) continue;
                try
                {
                    if (new Binder(_input).Bind(item.Expr).Describe() == key.Describe()) return item.Alias;
                }
                catch (ExpressionException)
                {
                    // An aggregate or an error: not this key; the error is reported when the item is bound.
                }
            }
            return null;
        }

        private void ResolveWindow(WindowItem w)
        {
            var fn = w.Kind.ToString().ToUpperInvariant();
            var time = Bind(SourceBinder($"the time argument of {fn}"), w.Time);
            if (time.Kind != ColumnKind.Timestamp)
                throw Err(w.Time.Position, $"{fn} needs a timestamp as its first argument, got a {ColumnTypes.Name(time.Kind)}");
            if (src.EventTimeColumn is { } et)
            {
                if (time is not ColumnVExpr c || c.Name != et)
                    throw Err(w.Time.Position, $"windows run on the source's event time: write {fn}({et}, …) (event_time.column of '{src.Name}' is '{et}')");
            }
            else if (!src.IsBounded)
            {
                throw Err(w.Position, $"a window over the unbounded source '{src.Name}' needs event time: declare event_time: {{ column: …, max_out_of_orderness: … }} on the source");
            }
            _windowTimeColumn = AddPre(time, time is ColumnVExpr tc ? tc.Name : "window_time");
            _window = new LogicalWindow(w.Kind, time, w.SizeMicros, w.SlideMicros, w.GapMicros, src.AllowedLatenessMicros);
        }

        /// <summary>Binds a node above the aggregate: aggregates and GROUP BY keys become the aggregate's output columns.</summary>
        private VExpr? PostResolve(Expr e)
        {
            RuntimeHelpers.EnsureSufficientExecutionStack();
            if (IsAggregateCall(e)) return RegisterAggregate((CallExpr)e);
            if (IsWindowCall(e))
                throw Err(e.Position, $"{((CallExpr)e).Name.ToUpperInvariant()}(…) can only be used as a GROUP BY item; select window_start and window_end to see the window");
            if (e is ColumnRef || (_expressionKeys && e is not Literal and not IntervalLiteral))
            {
                VExpr? v;
                try
                {
                    v = new Binder(_input).Bind(e);
                }
                catch (ExpressionException)
                {
                    v = null;
                }
                if (v != null && _keyIndex.TryGetValue(ColumnTypes.Name(v.Kind) + ":" + v.Describe(), out var k))
                    return new ColumnVExpr(k, _keys[k].Name, v.Kind);
            }
            if (e is ColumnRef c)
            {
                if (_windowItem != null && IsWindowColumnName(c.Name) && (!IsQuotedAt(c.Position) || c.Name is "window_start" or "window_end"))
                {
                    var start = string.Equals(c.Name, "window_start", StringComparison.OrdinalIgnoreCase);
                    return new ColumnVExpr(_keys.Count + (start ? 0 : 1), start ? "window_start" : "window_end", ColumnKind.Timestamp);
                }
                if (Resolves(_input, c.Name))
                    throw Err(c.Position, $"column '{c.Name}' must appear in the GROUP BY clause or be used in an aggregate function");
                if (_inHaving && !_inHavingAlias && !IsQuotedAt(c.Position))
                {
                    // HAVING may name a select item by its alias (as DuckDB and MySQL allow; PostgreSQL does not).
                    var aliased = q.Items.OfType<ExprItem>().Where(i => i.Alias != null && string.Equals(i.Alias, c.Name, StringComparison.OrdinalIgnoreCase)).ToList();
                    if (aliased.Count == 1)
                    {
                        _inHavingAlias = true;
                        var bound = new Binder(new Schema([], null), PostResolve).Bind(aliased[0].Expr);
                        _inHavingAlias = false;
                        return bound;
                    }
                }
                if (IsQuotedAt(c.Position) || (IsWindowColumnName(c.Name) && _windowItem == null))
                    throw UnknownColumn(c, "the select list")!;
                if (IsOtherItemsAlias(c))
                    throw Err(c.Position, $"unknown column '{c.Name}': it is a name given in the select list; repeat the expression instead");
                return new Binder(_input).Bind(c);   // throws the binder's unknown-column error
            }
            return null;
        }

        private ColumnVExpr RegisterAggregate(CallExpr c)
        {
            var fn = c.Name;
            if (!AggregateNames.Contains(fn))
                throw Err(c.Position, $"{fn}(…) is not an aggregate function: *, DISTINCT and FILTER go with count, sum, min, max, avg and approx_count_distinct");
            if (c.Star && fn != "count") throw Err(c.Position, $"{fn}(*) is not defined: only count(*) takes *");
            if (!c.Star && c.Args.Count != 1)
                throw Err(c.Position, c.Args.Count == 0 && fn == "count" ? "count() needs an argument: count(*) counts rows, count(x) counts non-null values" : $"{fn} takes exactly one argument, got {c.Args.Count}");
            if (c.Distinct && fn != "count")
                throw Err(c.Position, fn == "approx_count_distinct" ? "approx_count_distinct already counts distinct values: drop DISTINCT" : $"{fn}(DISTINCT …) is not supported yet (only count(DISTINCT …))");

            var argBinder = SourceBinder("an aggregate's argument");
            VExpr? arg = c.Star ? null : Bind(argBinder, c.Args[0]);
            var function = fn switch
            {
                "count" when c.Star => AggregateFunction.CountStar,
                "count" when c.Distinct => AggregateFunction.CountDistinct,
                "count" => AggregateFunction.Count,
                "sum" => AggregateFunction.Sum,
                "min" => AggregateFunction.Min,
                "max" => AggregateFunction.Max,
                "avg" => AggregateFunction.Avg,
                _ => AggregateFunction.ApproxCountDistinct,
            };
            if (arg is LiteralVExpr { Value: null } && function is AggregateFunction.Sum or AggregateFunction.Avg) arg = new LiteralVExpr(null, ColumnKind.Float64);
            ColumnKind kind;
            switch (function)
            {
                case AggregateFunction.Sum or AggregateFunction.Avg:
                    if (!Binder.IsNumeric(arg!.Kind))
                        throw Err(c.Args[0].Position, $"{fn} needs a number, got a {ColumnTypes.Name(arg.Kind)}");
                    kind = function == AggregateFunction.Avg || arg.Kind == ColumnKind.Float64 ? ColumnKind.Float64 : ColumnKind.Int64;
                    break;
                case AggregateFunction.Min or AggregateFunction.Max:
                    if (arg!.Kind == ColumnKind.Bool)
                        throw Err(c.Args[0].Position, $"{fn} is not defined for booleans");
                    kind = arg.Kind;
                    break;
                default:
                    kind = ColumnKind.Int64;
                    break;
            }
            VExpr? filter = c.Filter == null ? null : BindCondition(SourceBinder("FILTER (WHERE …)"), c.Filter, "FILTER (WHERE …)");

            var input = arg == null ? -1 : AddPre(arg, arg is ColumnVExpr col ? col.Name : arg.Describe());
            var filterColumn = filter == null ? -1 : AddPre(filter, filter is ColumnVExpr fc ? fc.Name : "filter: " + filter.Describe());
            if (!_aggIndex.TryGetValue((function, input, filterColumn), out var j))
            {
                var call = new LogicalAggregateCall(function, arg, filter, "");
                var direct = _currentItem != null && ReferenceEquals(_currentItem.Expr, c) && _currentItem.Alias != null ? _currentItem.Alias : null;
                var baseName = direct ?? call.Call();
                var name = baseName;
                for (var n = 2; !_aggOutputNames.Add(name) || _keys.Any(k => k.Name == name) || IsWindowColumnName(name); n++) name = $"{baseName}_{n}";
                j = _aggs.Count;
                _aggs.Add((new AggregateSpec(function, input, name, filterColumn), call with { Name = name }, kind));
                _aggIndex[(function, input, filterColumn)] = j;
            }
            var a = _aggs[j];
            return new ColumnVExpr(_keys.Count + WindowColumns + j, a.Spec.OutputName, a.Kind);
        }
    }
}
