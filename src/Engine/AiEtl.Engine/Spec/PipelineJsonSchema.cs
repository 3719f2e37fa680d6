namespace AiEtl.Engine.Spec;

/// <summary>
/// The JSON Schema (draft 2020-12) of pipeline specs, <c>schemas/pipeline.schema.json</c>, embedded in this
/// assembly for editors, agents and tools. <see cref="PipelineSpecLoader"/> does not need it: it checks more
/// than the schema can say (event-time columns, format inference, positivity of durations).
/// </summary>
public static class PipelineJsonSchema
{
    /// <summary>Manifest resource name of the schema.</summary>
    public const string ResourceName = "AiEtl.Engine.Spec.pipeline.schema.json";

    private static readonly Lazy<string> Cached = new(ReadText);

    /// <summary>The schema text.</summary>
    public static string Text => Cached.Value;

    private static string ReadText()
    {
        using var stream = typeof(PipelineJsonSchema).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"resource {ResourceName} is missing from the engine assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
