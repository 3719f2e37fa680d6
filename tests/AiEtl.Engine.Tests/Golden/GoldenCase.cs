using System.Globalization;
using System.Text;
using System.Text.Json;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.Engine.Tests.Support;

namespace AiEtl.Engine.Tests.Golden;

/// <summary>
/// One golden case under <c>tests/golden/cases</c>: <c>NAME.sql</c> (the query, with <c>-- key: value</c> header
/// lines), <c>NAME.expected.jsonl</c> (the sink's rows), optionally <c>NAME.dead.jsonl</c> (the dead letters,
/// without time and file path) and <c>NAME.duckdb.sql</c> (DuckDB's spelling of the same query). The input is
/// <c>tests/golden/inputs/INPUT.jsonl</c> with its schema in <c>INPUT.schema.yaml</c>. See tests/golden/README.md.
/// </summary>
public sealed record GoldenCase(string Name, string SqlPath)
{
    public static string Root { get; } = Path.Combine(Spec.SpecTestSupport.RepoRoot, "tests", "golden");
    public static string CasesDir => Path.Combine(Root, "cases");
    public static string InputsDir => Path.Combine(Root, "inputs");

    /// <summary>Set to 1 to (re)write the expected files from the engine's output (after the DuckDB check).</summary>
    public static bool Regenerate => Environment.GetEnvironmentVariable("AIETL_GOLDEN_REGEN") == "1";

    public string Sql { get; private init; } = "";
    public string Input { get; private init; } = "";
    /// <summary>Null: cross-checked against DuckDB. Otherwise the reason the expected output is hand-checked.</summary>
    public string? HandChecked { get; private init; }
    public string? EventTime { get; private init; }
    public string? AllowedLateness { get; private init; }
    public int? BatchSize { get; private init; }
    public int Parallelism { get; private init; } = 2;

    public string ExpectedPath => Path.ChangeExtension(SqlPath, ".expected.jsonl");
    public string DeadPath => Path.ChangeExtension(SqlPath, ".dead.jsonl");
    public string DuckDbSqlPath => Path.ChangeExtension(SqlPath, ".duckdb.sql");
    public string DuckDbSql => File.Exists(DuckDbSqlPath) ? File.ReadAllText(DuckDbSqlPath) : Sql;

    public override string ToString() => Name;

    public static IReadOnlyList<GoldenCase> All() =>
        Directory.EnumerateFiles(CasesDir, "*.sql", SearchOption.AllDirectories)
            .Where(p => !p.EndsWith(".duckdb.sql", StringComparison.Ordinal))
            .Select(p => Load(Path.GetRelativePath(CasesDir, p)[..^4].Replace('\\', '/')))
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .ToList();

    public static GoldenCase Load(string name)
    {
        var path = Path.Combine(CasesDir, name + ".sql");
        var sql = File.ReadAllText(path);
        string? input = null, hand = null, eventTime = null, lateness = null;
        int? batch = null;
        var parallelism = 2;
        var check = false;
        foreach (var raw in sql.Split('\n'))
        {
            var line = raw.Trim();
            if (!line.StartsWith("--", StringComparison.Ordinal)) break;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0) continue;
            var key = line[2..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "input": input = value; break;
                case "check":
                    check = true;
                    if (value.StartsWith("hand:", StringComparison.Ordinal)) hand = value[5..].Trim();
                    else if (value != "duckdb") throw new InvalidDataException($"{name}: check must be 'duckdb' or 'hand: REASON', got '{value}'");
                    break;
                case "event_time": eventTime = value; break;
                case "allowed_lateness": lateness = value; break;
                case "batch_size": batch = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "parallelism": parallelism = int.Parse(value, CultureInfo.InvariantCulture); break;
            }
        }
        if (input == null || !check) throw new InvalidDataException($"{name}: the header needs '-- input: NAME' and '-- check: duckdb | hand: REASON'");
        if (hand is { Length: 0 }) throw new InvalidDataException($"{name}: a hand-checked case names its reason");
        return new GoldenCase(name, path)
        {
            Sql = sql, Input = input, HandChecked = hand, EventTime = eventTime, AllowedLateness = lateness, BatchSize = batch, Parallelism = parallelism,
        };
    }

    /// <summary>The pipeline spec <c>aietl run</c> would read for this case: the input file, SQL, a JSON-lines sink and dead-letter file.</summary>
    public string SpecYaml(string outPath, string deadPath)
    {
        var sb = new StringBuilder();
        sb.Append("name: golden\n");
        sb.Append("sources:\n  ").Append(Input).Append(":\n");
        sb.Append("    file: { path: ").Append(JsonSerializer.Serialize(Path.Combine(InputsDir, Input + ".jsonl"))).Append(", format: jsonl");
        if (BatchSize is { } b) sb.Append(", batch_size: ").Append(b.ToString(CultureInfo.InvariantCulture));
        sb.Append(" }\n    schema:\n");
        foreach (var line in File.ReadAllLines(Path.Combine(InputsDir, Input + ".schema.yaml")))
            if (line.Trim().Length > 0) sb.Append("      ").Append(line).Append('\n');
        if (EventTime != null)
        {
            var parts = EventTime.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            sb.Append("    event_time: { column: ").Append(parts[0]).Append(", max_out_of_orderness: ").Append(parts.Length > 1 ? parts[1] : "0s");
            if (AllowedLateness != null) sb.Append(", allowed_lateness: ").Append(AllowedLateness);
            sb.Append(" }\n");
        }
        sb.Append("transform: |\n");
        foreach (var line in Sql.Replace("\r", "", StringComparison.Ordinal).TrimEnd('\n').Split('\n')) sb.Append("  ").Append(line).Append('\n');
        sb.Append("sink:\n  file: { path: ").Append(JsonSerializer.Serialize(outPath)).Append(" }\n");
        sb.Append("dead_letter: { file: ").Append(JsonSerializer.Serialize(deadPath)).Append(" }\n");
        sb.Append("parallelism: ").Append(Parallelism.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// Runs the case in this process the way <c>aietl run</c> does: spec file → loader → planner (built-in connectors)
    /// → job runner with the spec's dead-letter output. Returns the sink's lines and the dead letters (canonical form).
    /// </summary>
    public async Task<(List<string> Rows, List<string> Dead)> RunInProcessAsync(CancellationToken ct)
    {
        using var dir = new TempDir();
        var specPath = dir.Write("pipeline.yaml", SpecYaml(dir.File("out.jsonl"), dir.File("dead.jsonl")));
        var loaded = PipelineSpecLoader.Load(specPath);
        Assert.True(loaded.IsValid && loaded.Spec != null, string.Join("\n", loaded.FormatErrors()));
        var spec = loaded.Spec!;
        var connectors = BuiltinConnectors.Create();
        var plan = Planner.Plan(spec, connectors);
        var deadLetters = connectors.CreateDeadLetterOutput(spec);
        using var metrics = new EngineMetrics(spec.Name);
        try
        {
            await new JobRunner(plan.Graph, new JobOptions { DeadLetters = deadLetters, Metrics = metrics, Store = new InMemoryCheckpointStore() })
                .RunAsync(CancellationToken.None, ct);
        }
        finally
        {
            await deadLetters.DisposeAsync();
        }
        return (ReadLines(dir.File("out.jsonl")), ReadDeadLetters(dir.File("dead.jsonl")));
    }

    public static List<string> ReadLines(string path) =>
        File.Exists(path) ? File.ReadAllLines(path).Where(l => l.Length > 0).Order(StringComparer.Ordinal).ToList() : [];

    /// <summary>Dead-letter records without what varies between runs (time, the input file's path, the pipeline name), sorted.</summary>
    public static List<string> ReadDeadLetters(string path)
    {
        var result = new List<string>();
        foreach (var line in ReadLines(path))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                w.WriteStartObject();
                w.WriteString("source", r.GetProperty("source").GetString());
                w.WriteStartObject("position");
                foreach (var p in r.GetProperty("position").EnumerateObject())
                    if (p.Name != "file") p.WriteTo(w);
                w.WriteEndObject();
                w.WriteString("error_class", r.GetProperty("error_class").GetString());
                w.WriteString("error", r.GetProperty("error").GetString());
                w.WriteString("raw", Encoding.UTF8.GetString(r.GetProperty("raw_base64").GetBytesFromBase64()));
                w.WriteEndObject();
            }
            result.Add(Encoding.UTF8.GetString(buffer.ToArray()));
        }
        result.Sort(StringComparer.Ordinal);
        return result;
    }
}
