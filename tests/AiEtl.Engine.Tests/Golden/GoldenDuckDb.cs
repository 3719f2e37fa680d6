using System.Globalization;
using System.Numerics;
using System.Text.Json;
using DuckDB.NET.Data;

namespace AiEtl.Engine.Tests.Golden;

/// <summary>
/// DuckDB (in process, <c>DuckDB.NET.Data.Full</c>) holding each golden input as a table of the input's name, with
/// the declared column types, loaded from the same JSON-lines file. Results of both engines are compared in a
/// canonical form: one line per row, values typed (string, number, bool, null), timestamps in the sink's text
/// form, intervals as microseconds, and numbers to 12 significant digits (float sums may differ in the last bits
/// with the order of addition).
/// </summary>
public sealed class GoldenDuckDb : IDisposable
{
    private readonly DuckDBConnection _connection;
    private readonly HashSet<string> _loaded = [];
    private readonly Lock _lock = new();

    public GoldenDuckDb()
    {
        _connection = new DuckDBConnection("Data Source=:memory:");
        _connection.Open();
        Execute("SET TimeZone = 'UTC'");
    }

    public void Dispose() => _connection.Dispose();

    private void Execute(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Runs the query and returns the column names and the canonical rows (sorted).</summary>
    public (List<string> Names, List<string> Rows) Query(string input, string sql)
    {
        lock (_lock)
        {
            Load(input);
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = sql;
            using var reader = cmd.ExecuteReader();
            var names = Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToList();
            var rows = new List<string>();
            while (reader.Read())
            {
                var values = new string[reader.FieldCount];
                for (var c = 0; c < values.Length; c++)
                    values[c] = reader.IsDBNull(c) ? "null" : Canonical(reader.GetValue(c), reader.GetDataTypeName(c));
                rows.Add(string.Join(" | ", values));
            }
            rows.Sort(StringComparer.Ordinal);
            return (names, rows);
        }
    }

    private void Load(string input)
    {
        if (!_loaded.Add(input)) return;
        var columns = SchemaOf(input);
        Execute($"CREATE TABLE \"{input}\" ({string.Join(", ", columns.Select(c => $"\"{c.Name}\" {SqlType(c.Type)}"))})");
        using var appender = _connection.CreateAppender(input);
        foreach (var line in File.ReadAllLines(Path.Combine(GoldenCase.InputsDir, input + ".jsonl")))
        {
            if (line.Length == 0) continue;
            using var doc = JsonDocument.Parse(line);
            var row = appender.CreateRow();
            foreach (var (name, type) in columns)
            {
                if (!doc.RootElement.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
                {
                    row = row.AppendNullValue();
                    continue;
                }
                row = type switch
                {
                    "int64" => row.AppendValue(v.GetInt64()),
                    "int32" => row.AppendValue(v.GetInt32()),
                    "float64" => row.AppendValue(v.GetDouble()),
                    "bool" => row.AppendValue(v.GetBoolean()),
                    "string" => row.AppendValue(v.GetString()),
                    "timestamp" => row.AppendValue(DateTimeOffset.Parse(v.GetString()!, CultureInfo.InvariantCulture).UtcDateTime),
                    "date" => row.AppendValue(DateOnly.ParseExact(v.GetString()!, "yyyy-MM-dd", CultureInfo.InvariantCulture)),
                    _ => throw new NotSupportedException(type),
                };
            }
            row.EndRow();
        }
    }

    /// <summary>The declared columns of an input: <c>name: type</c> or <c>name: { type: T, … }</c> per line.</summary>
    public static List<(string Name, string Type)> SchemaOf(string input)
    {
        var result = new List<(string, string)>();
        foreach (var line in File.ReadAllLines(Path.Combine(GoldenCase.InputsDir, input + ".schema.yaml")))
        {
            if (line.Trim().Length == 0) continue;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var name = line[..colon].Trim();
            var rest = line[(colon + 1)..].Trim();
            var type = rest.StartsWith('{') ? rest.Split("type:")[1].Split([',', '}'])[0].Trim() : rest;
            result.Add((name, type));
        }
        return result;
    }

    private static string SqlType(string type) => type switch
    {
        "int64" => "BIGINT",
        "int32" => "INTEGER",
        "float64" => "DOUBLE",
        "bool" => "BOOLEAN",
        "string" => "VARCHAR",
        "timestamp" => "TIMESTAMP",
        "date" => "DATE",
        _ => throw new NotSupportedException(type),
    };

    private static string Canonical(object value, string typeName) => value switch
    {
        string s => "s:" + s,
        bool b => b ? "true" : "false",
        DateTime d when typeName.StartsWith("DATE", StringComparison.OrdinalIgnoreCase) && !typeName.Contains("TIME", StringComparison.OrdinalIgnoreCase) =>
            "s:" + d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        DateTime d => "s:" + d.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
        DateTimeOffset d => "s:" + d.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
        DateOnly d => "s:" + d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        TimeSpan t => "n:" + (t.Ticks / 10).ToString(CultureInfo.InvariantCulture),
        long or int or short or sbyte or byte or ushort or uint or ulong or BigInteger or Int128 or UInt128 =>
            "n:" + Convert.ToString(value, CultureInfo.InvariantCulture),
        double d => "n:" + Number(d),
        float f => "n:" + Number(f),
        decimal m => "n:" + (decimal.IsInteger(m) ? m.ToString("0", CultureInfo.InvariantCulture) : Number((double)m)),
        _ => throw new NotSupportedException($"DuckDB value of type {value.GetType().Name} ({typeName})"),
    };

    public static string Number(double d) =>
        double.IsInteger(d) && Math.Abs(d) < 1e15 ? ((long)d).ToString(CultureInfo.InvariantCulture) : d.ToString("G12", CultureInfo.InvariantCulture);

    /// <summary>The sink's JSON lines in the same canonical form, with the keys of the first line.</summary>
    public static (List<string> Names, List<string> Rows) FromJsonLines(IEnumerable<string> lines)
    {
        var names = new List<string>();
        var rows = new List<string>();
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var values = new List<string>();
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (rows.Count == 0) names.Add(p.Name);
                var v = p.Value;
                values.Add(v.ValueKind switch
                {
                    JsonValueKind.Null => "null",
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    JsonValueKind.String => "s:" + v.GetString(),
                    JsonValueKind.Number => "n:" + (v.TryGetInt64(out var l) ? l.ToString(CultureInfo.InvariantCulture) : Number(v.GetDouble())),
                    _ => throw new InvalidDataException($"unexpected JSON value {v.GetRawText()}"),
                });
            }
            rows.Add(string.Join(" | ", values));
        }
        rows.Sort(StringComparer.Ordinal);
        return (names, rows);
    }
}
