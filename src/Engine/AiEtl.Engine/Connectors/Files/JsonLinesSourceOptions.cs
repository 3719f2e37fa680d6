using AiEtl.Engine.Json;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>Options of <see cref="JsonLinesFileSource"/>.</summary>
public sealed record JsonLinesSourceOptions
{
    /// <summary>
    /// A file, or a glob whose last segment holds <c>*</c> / <c>?</c> (e.g. <c>data/*.jsonl</c>); matching
    /// files are read in ordinal name order.
    /// </summary>
    public required string Path { get; init; }

    /// <summary>Rows per batch (default 8192).</summary>
    public int BatchSize { get; init; } = 8192;

    /// <summary>Per-column options (required, time format) by column name.</summary>
    public IReadOnlyDictionary<string, JsonColumnOptions>? Columns { get; init; }

    /// <summary>Bytes per read from a file (default 1 MiB); a longer line grows the buffer for its length.</summary>
    public int ReadBufferSize { get; init; } = 1 << 20;

    /// <summary>Returns every problem with these options (empty when fine).</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Path)) problems.Add("path: must not be empty");
        if (BatchSize < 1) problems.Add($"batch_size: must be at least 1 (was {BatchSize})");
        if (ReadBufferSize < 4096) problems.Add($"read_buffer_size: must be at least 4096 (was {ReadBufferSize})");
        return problems;
    }
}
