using AiEtl.Engine.Json;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>
/// Reads JSON-lines files (one JSON object per line, LF or CRLF, blank lines skipped) into batches of a
/// declared schema with <see cref="JsonRowDecoder"/>. Lines that do not decode go to the dead-letter output
/// with file, line and byte offset. One split per file: reader i of n takes the files whose index % n == i.
/// </summary>
public sealed class JsonLinesFileSource : ISource
{
    private readonly string[] _files;

    /// <exception cref="ArgumentException">Invalid options or column options.</exception>
    /// <exception cref="FileNotFoundException">The path or glob matches no file.</exception>
    public JsonLinesFileSource(string name, Schema schema, JsonLinesSourceOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
            throw new ArgumentException($"source '{name}': " + string.Join("; ", problems), nameof(options));
        _ = new JsonRowDecoder(schema, options.Columns); // validates the column options now
        Name = name;
        Schema = schema;
        Options = options;
        _files = ResolveFiles(options.Path);
    }

    public string Name { get; }
    public Schema Schema { get; }
    public JsonLinesSourceOptions Options { get; }

    /// <summary>The files read, in order (their index is the split index).</summary>
    public IReadOnlyList<string> Files => _files;

    public int MaxParallelism => _files.Length;
    public bool IsBounded => true;

    public ISourceReader CreateReader(ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var n = context.Task.Parallelism;
        var i = context.Task.Index;
        if (n < 1 || i < 0 || i >= n)
            throw new ArgumentException($"invalid task {context.Task}", nameof(context));
        var mine = new List<int>();
        for (var f = i; f < _files.Length; f += n) mine.Add(f);
        return new JsonLinesFileReader(this, _files, [.. mine], context);
    }

    /// <summary>
    /// A file path, or a directory plus a file-name pattern with <c>*</c> and <c>?</c>, sorted by name
    /// (ordinal). Hidden files are not matched by patterns.
    /// </summary>
    public static string[] ResolveFiles(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var dir = Path.GetDirectoryName(path);
        var pattern = Path.GetFileName(path);
        if (dir != null && dir.AsSpan().IndexOfAny('*', '?') >= 0)
            throw new ArgumentException($"path '{path}': wildcards are only supported in the file name", nameof(path));
        if (pattern.AsSpan().IndexOfAny('*', '?') < 0)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"input file '{path}' does not exist", path);
            return [path];
        }
        var searchDir = string.IsNullOrEmpty(dir) ? "." : dir;
        if (!Directory.Exists(searchDir))
            throw new DirectoryNotFoundException($"path '{path}': directory '{searchDir}' does not exist");
        var files = Directory.GetFiles(searchDir, pattern, new EnumerationOptions
        {
            MatchType = MatchType.Simple,
            RecurseSubdirectories = false,
            IgnoreInaccessible = false,
        });
        if (files.Length == 0) throw new FileNotFoundException($"no file matches '{path}'", path);
        var result = new string[files.Length];
        for (var k = 0; k < files.Length; k++)
            result[k] = string.IsNullOrEmpty(dir) ? Path.GetFileName(files[k]) : Path.Combine(dir, Path.GetFileName(files[k]));
        System.Array.Sort(result, StringComparer.Ordinal);
        return result;
    }
}
