using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AiEtl.Engine.Columns;
using Apache.Arrow;
using Npgsql;

namespace AiEtl.Engine.Postgres;

/// <summary>A captured table: its columns (as pgoutput sends them: no dropped or generated ones) and its key.</summary>
internal sealed class CdcTable
{
    public required string Schema { get; init; }
    public required string Name { get; init; }
    public required uint Oid { get; init; }
    /// <summary><c>d</c> default (primary key), <c>f</c> full, <c>i</c> index, <c>n</c> nothing.</summary>
    public required char ReplicaIdentity { get; set; }
    public required List<PgColumn> Columns { get; set; }
    /// <summary>Primary key (else replica identity index) columns; empty when the table has neither.</summary>
    public required string[] Key { get; set; }
    public string Qualified => $"{Schema}.{Name}";
    public string Sql => PgTypes.QuoteQualified(Schema, Name);

    public CdcTable With(List<PgColumn> columns) => new() { Schema = Schema, Name = Name, Oid = Oid, ReplicaIdentity = ReplicaIdentity, Columns = columns, Key = Key };
}

/// <summary>
/// The columns every change batch starts with. <c>_table</c> routes a row to its table; <c>_lsn</c> is the commit
/// LSN (the consistent point for snapshot rows) and <c>_tx_seq</c> the change's position in its transaction, so
/// (<c>_lsn</c>, <c>_tx_seq</c>) orders changes as committed.
/// </summary>
public static class CdcColumns
{
    public const string Table = "_table";
    public const string Op = "_op";
    public const string Lsn = "_lsn";
    public const string TxSeq = "_tx_seq";
    public const string CommitTime = "_commit_time";
    public const string Xid = "_xid";
    public const string Before = "_before";
    public const string UnchangedToast = "_unchanged_toast";

    /// <summary>Schema metadata key holding the captured tables (JSON: table, columns with PostgreSQL types, key).</summary>
    public const string TablesMetadataKey = "aietl.cdc.tables";

    internal const int Count = 8;
    internal const int TableIdx = 0, OpIdx = 1, LsnIdx = 2, TxSeqIdx = 3, CommitTimeIdx = 4, XidIdx = 5, BeforeIdx = 6, ToastIdx = 7;

    internal static readonly (string Name, ColumnKind Kind)[] All =
    [
        (Table, ColumnKind.String), (Op, ColumnKind.String), (Lsn, ColumnKind.Int64), (TxSeq, ColumnKind.Int64),
        (CommitTime, ColumnKind.Timestamp), (Xid, ColumnKind.Int64), (Before, ColumnKind.String), (UnchangedToast, ColumnKind.String),
    ];
}

/// <summary>
/// The one Arrow schema of a CDC source: the metadata columns, then the union of the captured tables' columns by
/// name (a column that two tables type differently widens: int32+int64 → int64, otherwise string). Columns only
/// grow when tables evolve; a row leaves the columns its table lacks NULL.
/// </summary>
internal sealed class CdcSchema
{
    private readonly Dictionary<string, int> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<uint, (CdcTable Table, int[] Map, int[] Others)> _tables = [];

    public Schema Arrow { get; }
    public IReadOnlyList<CdcTable> Tables { get; }

    private CdcSchema(IReadOnlyList<CdcTable> tables, List<(string Name, ColumnKind Kind)> data)
    {
        Tables = tables;
        var fields = new List<Field>();
        foreach (var (n, k) in CdcColumns.All) fields.Add(ColumnTypes.Field(n, k, nullable: n is not (CdcColumns.Table or CdcColumns.Op or CdcColumns.Lsn or CdcColumns.TxSeq)));
        for (var i = 0; i < data.Count; i++)
        {
            _byName[data[i].Name] = CdcColumns.Count + i;
            fields.Add(ColumnTypes.Field(data[i].Name, data[i].Kind));
        }
        Arrow = new Schema(fields, new Dictionary<string, string> { [CdcColumns.TablesMetadataKey] = TablesJson(tables) });
        foreach (var t in tables)
        {
            var map = t.Columns.Select(c => _byName[c.Name]).ToArray();
            var others = Enumerable.Range(CdcColumns.Count, data.Count).Except(map).ToArray();
            _tables[t.Oid] = (t, map, others);
        }
    }

    public int DataColumnCount => Arrow.FieldsList.Count - CdcColumns.Count;

    public bool TryGet(uint oid, out CdcTable table, out int[] map, out int[] others)
    {
        if (_tables.TryGetValue(oid, out var e))
        {
            (table, map, others) = e;
            return true;
        }
        (table, map, others) = (null!, [], []);
        return false;
    }

    public ColumnKind KindAt(int index) => ColumnTypes.FromArrow(Arrow.FieldsList[index].DataType);

    /// <summary>The schema of <paramref name="tables"/>; with <paramref name="previous"/>, its columns stay (in order) and only widen.</summary>
    public static CdcSchema Build(IReadOnlyList<CdcTable> tables, CdcSchema? previous = null)
    {
        var data = new List<(string Name, ColumnKind Kind)>();
        var at = new Dictionary<string, int>(StringComparer.Ordinal);
        if (previous != null)
        {
            for (var i = CdcColumns.Count; i < previous.Arrow.FieldsList.Count; i++)
            {
                at[previous.Arrow.FieldsList[i].Name] = data.Count;
                data.Add((previous.Arrow.FieldsList[i].Name, previous.KindAt(i)));
            }
        }
        foreach (var t in tables)
        {
            foreach (var c in t.Columns)
            {
                if (c.Name.StartsWith('_') && CdcColumns.All.Any(m => m.Name == c.Name))
                    throw new InvalidOperationException($"table {t.Qualified} has a column named {c.Name}, which the change stream uses for its metadata");
                if (at.TryGetValue(c.Name, out var k)) data[k] = (c.Name, Widen(data[k].Kind, c.Kind));
                else
                {
                    at[c.Name] = data.Count;
                    data.Add((c.Name, c.Kind));
                }
            }
        }
        return new CdcSchema(tables, data);
    }

    private static ColumnKind Widen(ColumnKind a, ColumnKind b) =>
        a == b ? a : (a, b) is (ColumnKind.Int32, ColumnKind.Int64) or (ColumnKind.Int64, ColumnKind.Int32) ? ColumnKind.Int64 : ColumnKind.String;

    private static string TablesJson(IReadOnlyList<CdcTable> tables)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartArray();
            foreach (var t in tables)
            {
                w.WriteStartObject();
                w.WriteString("table", t.Qualified);
                w.WriteString("schema", t.Schema);
                w.WriteString("name", t.Name);
                w.WriteStartArray("columns");
                foreach (var c in t.Columns)
                {
                    w.WriteStartArray();
                    w.WriteStringValue(c.Name);
                    w.WriteStringValue(c.PgType);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteStartArray("key");
                foreach (var k in t.Key) w.WriteStringValue(k);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}

/// <summary>One table as described in a change batch's schema metadata.</summary>
public sealed record CdcTableInfo(string Table, string Schema, string Name, IReadOnlyList<(string Column, string PgType)> Columns, IReadOnlyList<string> Key)
{
    /// <summary>Reads <see cref="CdcColumns.TablesMetadataKey"/> of a change batch's schema; null when absent.</summary>
    public static IReadOnlyList<CdcTableInfo>? FromSchema(Schema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        if (schema.Metadata == null || !schema.Metadata.TryGetValue(CdcColumns.TablesMetadataKey, out var json)) return null;
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray().Select(t => new CdcTableInfo(
            t.GetProperty("table").GetString()!,
            t.GetProperty("schema").GetString()!,
            t.GetProperty("name").GetString()!,
            t.GetProperty("columns").EnumerateArray().Select(c => (c[0].GetString()!, c[1].GetString()!)).ToList(),
            t.GetProperty("key").EnumerateArray().Select(k => k.GetString()!).ToList())).ToList();
    }
}

/// <summary>Finds the tables to capture and their columns in the catalog.</summary>
internal static class CdcCatalog
{
    /// <summary>Tables the sink keeps its progress in are never captured.</summary>
    public const string ProgressTable = "aietl_cdc_progress";

    public static Regex Pattern(string glob)
    {
        var re = "^" + Regex.Escape(glob).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$";
        return new Regex(glob.Contains('.', StringComparison.Ordinal) ? re : re.Replace("^", "^[^.]+\\.", StringComparison.Ordinal), RegexOptions.CultureInvariant);
    }

    public static async Task<List<CdcTable>> DiscoverAsync(NpgsqlConnection conn, IReadOnlyList<string> include, IReadOnlyList<string> exclude, CancellationToken ct)
    {
        var inc = include.Select(Pattern).ToList();
        var exc = exclude.Select(Pattern).ToList();
        const string sql = """
            SELECT n.nspname, c.relname, c.oid, c.relreplident, a.attname, a.atttypid, a.atttypmod,
                   format_type(a.atttypid, a.atttypmod), t.typcategory, coalesce(et.typcategory, ' ')
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
            ORDER BY n.nspname, c.relname, a.attnum
            """;
        var tables = new List<CdcTable>();
        using (var cmd = new NpgsqlCommand(sql, conn))
        using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            CdcTable? cur = null;
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var schema = r.GetString(0);
                var name = r.GetString(1);
                var qualified = schema + "." + name;
                if (name == ProgressTable) continue;
                if (inc.Count > 0 && !inc.Any(p => p.IsMatch(qualified))) continue;
                if (exc.Any(p => p.IsMatch(qualified))) continue;
                var oid = r.GetFieldValue<uint>(2);
                if (cur == null || cur.Oid != oid)
                {
                    cur = new CdcTable { Schema = schema, Name = name, Oid = oid, ReplicaIdentity = r.GetChar(3), Columns = [], Key = [] };
                    tables.Add(cur);
                }
                var typeOid = r.GetFieldValue<uint>(5);
                var elemCat = r.GetChar(9);
                cur.Columns.Add(new PgColumn(r.GetString(4), typeOid, r.GetInt32(6), r.GetString(7), PgTypes.ConvOf(typeOid, r.GetChar(8)), elemCat));
            }
        }
        if (tables.Count == 0) return tables;
        // Key: the primary key, else the replica identity index, in index column order.
        const string keySql = """
            SELECT i.indrelid, a.attname, i.indexrelid
            FROM pg_index i
            CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = ANY($1) AND (i.indisprimary OR i.indisreplident)
            ORDER BY i.indrelid, i.indisprimary DESC, i.indexrelid, k.ord
            """;
        var keys = new Dictionary<uint, List<string>>();
        var firstIndex = new Dictionary<uint, uint>();
        using (var cmd = new NpgsqlCommand(keySql, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = tables.Select(t => t.Oid).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Oid });
            using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var oid = r.GetFieldValue<uint>(0);
                var index = r.GetFieldValue<uint>(2);
                if (firstIndex.TryGetValue(oid, out var first) && first != index) continue;
                firstIndex[oid] = index;
                if (!keys.TryGetValue(oid, out var list)) keys[oid] = list = [];
                list.Add(r.GetString(1));
            }
        }
        foreach (var t in tables)
            if (keys.TryGetValue(t.Oid, out var k)) t.Key = k.Distinct().ToArray();
        return tables;
    }
}
