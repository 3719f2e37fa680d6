using System.Text;
using AiEtl.Engine.Columns;
using Apache.Arrow;
using Apache.Arrow.Types;
using static AiEtl.Engine.ClickHouse.ClickHouseHttp;

namespace AiEtl.Engine.ClickHouse;

/// <summary>One column of the insert: where it comes from and how it is encoded.</summary>
internal sealed record PlannedColumn(string Name, ChType Type, int Input, ColumnWriter Writer);

/// <summary>
/// How the input schema maps onto the target table, decided once before the first insert from the table's
/// columns (<c>system.columns</c>): every input column must exist in the table with a compatible type; table
/// columns the input lacks get their defaults. Exactly-once adds the bookkeeping columns.
/// </summary>
internal sealed class TablePlan
{
    private TablePlan(IReadOnlyList<PlannedColumn> columns, ChType? writerType, ChType? checkpointType, string insertSql)
    {
        Columns = columns;
        WriterType = writerType;
        CheckpointType = checkpointType;
        InsertSql = insertSql;
    }

    public IReadOnlyList<PlannedColumn> Columns { get; }
    /// <summary>Type of <c>_aietl_writer</c> in the table (exactly-once only).</summary>
    public ChType? WriterType { get; }
    public ChType? CheckpointType { get; }
    public string InsertSql { get; }

    /// <summary>Builds the plan or throws a permanent <see cref="ClickHouseSinkException"/> listing every problem, each naming table and column.</summary>
    public static TablePlan Create(Schema input, IReadOnlyList<(string Name, string Type)> table, ClickHouseSinkOptions options, bool exactlyOnce)
    {
        var qualified = options.QualifiedTable;
        var byName = new Dictionary<string, ChType>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var (name, type) in table)
        {
            try
            {
                byName[name] = ChType.Parse(type);
            }
            catch (FormatException e)
            {
                problems.Add($"column '{name}' of {qualified}: cannot read its type: {e.Message}");
            }
        }
        var columns = new List<PlannedColumn>();
        for (var i = 0; i < input.FieldsList.Count; i++)
        {
            var f = input.FieldsList[i];
            if (!byName.TryGetValue(f.Name, out var target))
            {
                var similar = byName.Keys.FirstOrDefault(k => string.Equals(k, f.Name, StringComparison.OrdinalIgnoreCase));
                problems.Add($"table {qualified} has no column '{f.Name}' (input column {f.Name} {ColumnWriters.Describe(f.DataType)})" +
                             (similar != null ? $"; did you mean '{similar}'? Names are case-sensitive" : ""));
                continue;
            }
            var writer = ColumnWriters.Create(f.DataType, f.IsNullable, target, out var error);
            if (writer == null)
            {
                problems.Add($"column '{f.Name}' of {qualified}: type mismatch: input {ColumnWriters.Describe(f.DataType)}{(f.IsNullable ? " (nullable)" : "")} cannot be written to {target.Text}: {error}");
                continue;
            }
            columns.Add(new PlannedColumn(f.Name, target, i, writer));
        }
        ChType? writerType = null, checkpointType = null;
        if (exactlyOnce)
        {
            if (!byName.TryGetValue(ClickHouseSinkOptions.WriterColumn, out writerType) || writerType.Base.Kind != ChKind.String || writerType.IsNullable)
            {
                problems.Add($"delivery: exactly-once needs column {ClickHouseSinkOptions.WriterColumn} String in {qualified}" +
                             (writerType != null ? $" (it is {writerType.Text})" : "") +
                             $" and {ClickHouseSinkOptions.CheckpointColumn} UInt64: add them (ALTER TABLE {qualified} ADD COLUMN {ClickHouseSinkOptions.WriterColumn} String, ADD COLUMN {ClickHouseSinkOptions.CheckpointColumn} UInt64) or let create_table: true create the table");
                writerType = null;
            }
            if (!byName.TryGetValue(ClickHouseSinkOptions.CheckpointColumn, out checkpointType) || checkpointType.Kind is not (ChKind.UInt64 or ChKind.Int64))
            {
                problems.Add($"delivery: exactly-once needs column {ClickHouseSinkOptions.CheckpointColumn} UInt64 in {qualified}" +
                             (checkpointType != null ? $" (it is {checkpointType.Text})" : ""));
                checkpointType = null;
            }
        }
        if (problems.Count > 0)
            throw new ClickHouseSinkException($"clickhouse sink '{options.Name}': the input does not fit table {qualified}:\n  - " + string.Join("\n  - ", problems));
        var names = columns.Select(c => Ident(c.Name)).ToList();
        if (exactlyOnce)
        {
            names.Add(Ident(ClickHouseSinkOptions.WriterColumn));
            names.Add(Ident(ClickHouseSinkOptions.CheckpointColumn));
        }
        var sql = $"INSERT INTO {Ident(options.Database)}.{Ident(options.Table)} ({string.Join(", ", names)}) FORMAT Native";
        return new TablePlan(columns, writerType, checkpointType, sql);
    }

    /// <summary>The CREATE TABLE statement for the input schema (see README for the type mapping).</summary>
    public static string CreateTableSql(Schema input, ClickHouseSinkOptions options, ServerVersion server, bool exactlyOnce)
    {
        var sb = new StringBuilder();
        sb.Append("CREATE TABLE IF NOT EXISTS ").Append(Ident(options.Database)).Append('.').Append(Ident(options.Table)).Append(" (");
        var first = true;
        // Sort and partition keys cannot be Nullable on older servers: NULLs there go to the dead letters instead.
        var keys = new HashSet<string>(options.OrderBy, StringComparer.Ordinal);
        if (options.PartitionBy != null)
            foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(options.PartitionBy, "`([^`]+)`|[A-Za-z_][A-Za-z0-9_]*"))
                keys.Add(m.Groups[1].Success ? m.Groups[1].Value : m.Value);
        foreach (var f in input.FieldsList)
        {
            if (!first) sb.Append(", ");
            first = false;
            sb.Append(Ident(f.Name)).Append(' ').Append(TypeFor(f.DataType, f.IsNullable && !keys.Contains(f.Name), options, server));
        }
        if (exactlyOnce)
        {
            // The writer id repeats on every row: dictionary-encoded where the server has LowCardinality without
            // the experimental switch, which saves the server parsing, sorting and compressing it row by row.
            sb.Append(", ").Append(Ident(ClickHouseSinkOptions.WriterColumn)).Append(server.LowCardinalityIsExperimental ? " String" : " LowCardinality(String)");
            sb.Append(", ").Append(Ident(ClickHouseSinkOptions.CheckpointColumn)).Append(" UInt64");
        }
        sb.Append(") ENGINE = ");
        sb.Append(options.Engine == ClickHouseTableEngine.ReplacingMergeTree
            ? $"ReplacingMergeTree({(options.VersionColumn != null ? Ident(options.VersionColumn) : "")})"
            : "MergeTree()");
        if (options.PartitionBy != null) sb.Append(" PARTITION BY ").Append(options.PartitionBy);
        sb.Append(" ORDER BY ").Append(options.OrderBy.Count == 0 ? "tuple()" : "(" + string.Join(", ", options.OrderBy.Select(Ident)) + ")");
        return sb.ToString();
    }

    /// <summary>The ClickHouse type a created table uses for an input column.</summary>
    public static string TypeFor(IArrowType t, bool nullable, ClickHouseSinkOptions options, ServerVersion server)
    {
        if (t is ListType l) return $"Array({TypeFor(l.ValueDataType, l.ValueField.IsNullable, options, server)})";
        var kind = ColumnTypes.FromArrow(t);
        var name = kind switch
        {
            ColumnKind.Bool => "UInt8",
            ColumnKind.Int32 => "Int32",
            ColumnKind.Int64 => "Int64",
            ColumnKind.Float64 => "Float64",
            ColumnKind.String => "String",
            ColumnKind.Date => "Date",
            ColumnKind.Timestamp => options.TimestampPrecision == ClickHouseTimestampPrecision.Seconds ? "DateTime('UTC')"
                : server.HasDateTime64 ? "DateTime64(6, 'UTC')" : "Int64",
            _ => throw new ArgumentOutOfRangeException(nameof(t)),
        };
        return nullable ? $"Nullable({name})" : name;
    }
}
