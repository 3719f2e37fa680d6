using System.Collections;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace AiEtl.Bench.Harness;

/// <summary>Ordered named figures (numbers, strings, flags or nested figures) of one JSON object.</summary>
public sealed class Figures : IEnumerable<KeyValuePair<string, object>>
{
    private readonly List<KeyValuePair<string, object>> _items = [];

    public Figures Add(string key, double value, int decimals = 3)
    {
        _items.Add(new(key, Math.Round(value, decimals, MidpointRounding.AwayFromZero)));
        return this;
    }

    public Figures Add(string key, long value)
    {
        _items.Add(new(key, value));
        return this;
    }

    public Figures Add(string key, string value)
    {
        _items.Add(new(key, value));
        return this;
    }

    public Figures Add(string key, bool value)
    {
        _items.Add(new(key, value));
        return this;
    }

    public Figures Add(string key, Figures value)
    {
        _items.Add(new(key, value));
        return this;
    }

    public object? this[string key] => _items.FirstOrDefault(kv => kv.Key == key).Value;

    public IEnumerator<KeyValuePair<string, object>> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    internal void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        foreach (var (key, value) in _items)
        {
            w.WritePropertyName(key);
            switch (value)
            {
                case double d when double.IsFinite(d): w.WriteNumberValue(d); break;
                case double: w.WriteNullValue(); break;
                case long l: w.WriteNumberValue(l); break;
                case string s: w.WriteStringValue(s); break;
                case bool b: w.WriteBooleanValue(b); break;
                case Figures f: f.Write(w); break;
                default: throw new InvalidOperationException($"unsupported figure type {value.GetType().Name}");
            }
        }
        w.WriteEndObject();
    }
}

/// <summary>
/// What a scenario produced, in the one JSON shape every scenario shares:
/// <c>{"scenario","rows","engine":{rows_per_s, alloc_bytes_per_row, peak_rss_mb, …},"peers":{NAME:{rows_per_s, …}},
/// "ratios":{vs_NAME, …}, …extra sections…, "env":{…}}</c>.
/// </summary>
public sealed class ScenarioReport
{
    public required string Scenario { get; init; }
    public required long Rows { get; init; }
    public Figures Engine { get; } = new();
    public Figures Peers { get; } = new();
    public Figures Ratios { get; } = new();
    /// <summary>Further named sections written between <c>ratios</c> and <c>env</c>.</summary>
    public Figures Extra { get; } = new();
    public Figures Env { get; init; } = new();
    /// <summary>Human-readable table printed to the console (not part of the JSON).</summary>
    public Table? Table { get; set; }
    /// <summary>Lines printed under the table.</summary>
    public List<string> Notes { get; } = [];

    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("scenario", Scenario);
            w.WriteNumber("rows", Rows);
            w.WritePropertyName("engine");
            Engine.Write(w);
            w.WritePropertyName("peers");
            Peers.Write(w);
            w.WritePropertyName("ratios");
            Ratios.Write(w);
            foreach (var (key, value) in Extra)
            {
                if (value is not Figures section) throw new InvalidOperationException($"extra section {key} must be an object");
                w.WritePropertyName(key);
                section.Write(w);
            }
            w.WritePropertyName("env");
            Env.Write(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    /// <summary>Writes <c>DIR/SCENARIO.json</c> atomically (temp file + rename); returns its path.</summary>
    public string Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, Scenario + ".json");
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, ToJson());
        File.Move(tmp, path, overwrite: true);
        return path;
    }
}
