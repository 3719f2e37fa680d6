using System.Text.Json.Nodes;

namespace AiEtl.Engine.Spec;

/// <summary>
/// YAML → JSON under the YAML 1.2 core schema (plain <c>10</c> is a number, <c>"10"</c> a string), so that a
/// spec can be checked against <c>schemas/pipeline.schema.json</c> by any JSON Schema validator.
/// </summary>
public static class YamlJson
{
    /// <summary>The JSON form of a one-document YAML text; throws <see cref="FormatException"/> on a syntax error.</summary>
    public static JsonNode? Convert(string yaml)
    {
        var problems = new List<YamlProblem>();
        var root = YamlTree.Parse(yaml, problems, out var syntaxError);
        if (syntaxError || problems.Count > 0)
        {
            var p = problems[0];
            throw new FormatException($"{p.Position}: {p.Message}");
        }
        return root is null ? null : ToJson(root);
    }

    internal static JsonNode? ToJson(YNode node)
    {
        switch (node)
        {
            case YMapping map:
            {
                var obj = new JsonObject();
                foreach (var entry in map.Entries)
                {
                    var key = entry.Key is YScalar s ? s.Value : throw new FormatException($"{entry.Key.Start}: keys must be plain text");
                    obj[key] = ToJson(entry.Value); // a duplicate key keeps the last value, as JSON parsers do
                }
                return obj;
            }
            case YSequence seq:
            {
                var arr = new JsonArray();
                foreach (var item in seq.Items) arr.Add(ToJson(item));
                return arr;
            }
            case YScalar s:
                switch (s.Kind)
                {
                    case ScalarKind.Null: return null;
                    case ScalarKind.Bool: return JsonValue.Create(s.TryGetBool(out var b) && b);
                    case ScalarKind.Int when s.TryGetInt64(out var l): return JsonValue.Create(l);
                    case ScalarKind.Int or ScalarKind.Float when s.TryGetDouble(out var d) && double.IsFinite(d): return JsonValue.Create(d);
                    default: return JsonValue.Create(s.Value);
                }
            default:
                throw new InvalidOperationException("unexpected YAML node");
        }
    }
}
