using System.Text.Json;
using AiEtl.Engine.Spec;
using Json.Schema;

namespace AiEtl.Engine.Tests.Spec;

internal static class SpecTestSupport
{
    public const string FileName = "test.yaml";

    public static PipelineSpecResult Load(string yaml) => PipelineSpecLoader.LoadFromString(yaml, FileName);

    public static PipelineSpec LoadValid(string yaml)
    {
        var result = Load(yaml);
        Assert.True(result.IsValid, "expected a valid spec, got:\n" + string.Join("\n", result.FormatErrors()));
        return result.Spec!;
    }

    /// <summary>Asserts the spec is invalid and returns its errors.</summary>
    public static IReadOnlyList<SpecError> Errors(string yaml)
    {
        var result = Load(yaml);
        Assert.False(result.IsValid, "expected errors, the spec loaded");
        Assert.Null(result.Spec);
        Assert.NotEmpty(result.Errors);
        return result.Errors;
    }

    /// <summary>Asserts exactly one error, at this path and position, whose message contains the fragment.</summary>
    public static SpecError SingleError(string yaml, string path, int line, int column, string fragment)
    {
        var errors = Errors(yaml);
        var e = Assert.Single(errors);
        AssertError(e, path, line, column, fragment);
        return e;
    }

    public static void AssertError(SpecError e, string path, int line, int column, string fragment)
    {
        Assert.Equal(path, e.Path);
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
    }

    /// <summary>The folder holding AiEtl.Engine.sln, found upwards from the test assembly.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AiEtl.Engine.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("AiEtl.Engine.sln not found above " + AppContext.BaseDirectory);
    }

    private static readonly Lazy<JsonSchema> Schema = new(() =>
        JsonSchema.FromText(PipelineJsonSchema.Text, new BuildOptions { SchemaRegistry = new SchemaRegistry() }));

    /// <summary>Validates YAML (converted to JSON) against schemas/pipeline.schema.json.</summary>
    public static EvaluationResults EvaluateSchema(string yaml)
    {
        var json = YamlJson.Convert(yaml);
        var element = JsonSerializer.SerializeToElement(json);
        return Schema.Value.Evaluate(element, new EvaluationOptions { OutputFormat = OutputFormat.List });
    }

    public static string Describe(EvaluationResults results) =>
        string.Join("\n", (results.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} ({d.EvaluationPath}): {e.Key}: {e.Value}")));
}
