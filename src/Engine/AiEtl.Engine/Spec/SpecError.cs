namespace AiEtl.Engine.Spec;

/// <summary>One problem in a pipeline spec.</summary>
/// <param name="Path">Where in the document, e.g. <c>source.file.path</c> or <c>transform[1].select[0]</c>; empty for the document itself.</param>
/// <param name="Line">1-based line of the offending YAML node (0 when the file could not be read).</param>
/// <param name="Column">1-based column of the offending YAML node (0 when the file could not be read).</param>
/// <param name="Message">What is wrong, and how to fix it when that is clear.</param>
public sealed record SpecError(string Path, int Line, int Column, string Message)
{
    /// <summary><c>file.yaml:12:5: source.file.path: message</c>.</summary>
    public string Format(string fileName)
    {
        var where = Line > 0 ? $"{fileName}:{Line}:{Column}" : fileName;
        return Path.Length > 0 ? $"{where}: {Path}: {Message}" : $"{where}: {Message}";
    }

    public override string ToString() => Format("<spec>");
}

/// <summary>The outcome of loading a spec: the spec when it is valid, otherwise every problem found.</summary>
public sealed record PipelineSpecResult(string FileName, PipelineSpec? Spec, IReadOnlyList<SpecError> Errors)
{
    public bool IsValid => Spec is not null && Errors.Count == 0;

    /// <summary>Each error as <c>file:line:col: path: message</c>, in document order.</summary>
    public IEnumerable<string> FormatErrors() => Errors.Select(e => e.Format(FileName));
}
