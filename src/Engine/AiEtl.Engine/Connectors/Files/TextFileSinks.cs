using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>Options of <see cref="JsonLinesFileSink"/>.</summary>
public sealed record JsonLinesSinkOptions
{
    /// <summary>
    /// A file path (one writer; the file itself is the output), or a directory ending in <c>/</c> (one part file
    /// per writer instance per checkpoint, <c>part-{instance}-{checkpointId:D10}.jsonl</c>).
    /// </summary>
    public required string Path { get; init; }

    public string Name { get; init; } = "jsonl";
}

/// <summary>Options of <see cref="CsvFileSink"/>.</summary>
public sealed record CsvSinkOptions
{
    /// <summary>A file path, or a directory ending in <c>/</c> (part files <c>part-{instance}-{checkpointId:D10}.csv</c>).</summary>
    public required string Path { get; init; }

    /// <summary>Write a header row with the column names at the start of each file.</summary>
    public bool Header { get; init; } = true;

    /// <summary>Field delimiter (ASCII, not a quote, CR or LF).</summary>
    public char Delimiter { get; init; } = ',';

    public string Name { get; init; } = "csv";
}

/// <summary>
/// Writes JSON lines (see <c>DESIGN.md</c>: one object per row, keys in column order, exact integers,
/// shortest round-trip floats with NaN/±Infinity as the strings <c>"NaN"</c>/<c>"Infinity"</c>/<c>"-Infinity"</c>,
/// UTC timestamps with 6 fraction digits, NULL as <c>null</c>).
/// <para>Exactly-once. Single file: rows go straight into the file; each barrier fsyncs it and records the
/// committed length, and a restart truncates the file back to that length (a fresh run starts a new file).
/// Directory: rows go to <c>part-{i}.jsonl.inprogress</c>, which a barrier turns into
/// <c>part-{i}-{checkpointId:D10}.jsonl.pending</c> and checkpoint completion into the final name.</para>
/// </summary>
public sealed class JsonLinesFileSink : ISink
{
    private readonly TextSinkPath _path;

    public JsonLinesFileSink(JsonLinesSinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        _path = TextSinkPath.Parse(options.Path, problems);
        if (string.IsNullOrWhiteSpace(options.Name)) problems.Add("name must not be empty");
        ConnectorConfigException.ThrowIfAny("jsonl sink", problems);
        Options = options;
    }

    public JsonLinesSinkOptions Options { get; }
    public string Name => Options.Name;
    public int MaxParallelism => _path.IsDirectory ? TextSinkPath.MaxDirectoryWriters : 1;
    public IReadOnlyList<string> Validate(Schema input) => ArrowColumnCursor.ValidateSchema(input);

    /// <summary>Every line names its keys, so a batch with another schema is written with its own keys.</summary>
    public bool AcceptsSchemaChanges => true;

    public ISinkWriter CreateWriter(Schema input, ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new TextFileSinkWriter(_path, new JsonLinesEncoder(input), context.Task.Index, input, s => new JsonLinesEncoder(s));
    }
}

/// <summary>
/// Writes RFC 4180 CSV with the same value formats as JSON lines (unquoted), NULL as an empty field and an empty
/// string as <c>""</c>. Same exactly-once file layout as <see cref="JsonLinesFileSink"/> (extension <c>.csv</c>);
/// every part file starts with its own header row.
/// </summary>
public sealed class CsvFileSink : ISink
{
    private readonly TextSinkPath _path;

    public CsvFileSink(CsvSinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        _path = TextSinkPath.Parse(options.Path, problems);
        if (options.Delimiter is '"' or '\r' or '\n' || options.Delimiter > 0x7F)
            problems.Add($"delimiter must be an ASCII character other than a quote, CR or LF (got U+{(int)options.Delimiter:X4})");
        if (string.IsNullOrWhiteSpace(options.Name)) problems.Add("name must not be empty");
        ConnectorConfigException.ThrowIfAny("csv sink", problems);
        Options = options;
    }

    public CsvSinkOptions Options { get; }
    public string Name => Options.Name;
    public int MaxParallelism => _path.IsDirectory ? TextSinkPath.MaxDirectoryWriters : 1;
    public IReadOnlyList<string> Validate(Schema input) => ArrowColumnCursor.ValidateSchema(input);

    public ISinkWriter CreateWriter(Schema input, ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new TextFileSinkWriter(_path, new CsvEncoder(input, (byte)Options.Delimiter, Options.Header), context.Task.Index);
    }
}

internal readonly record struct TextSinkPath(string Path, bool IsDirectory)
{
    /// <summary>Upper bound on parallel writers of a directory-mode file sink.</summary>
    public const int MaxDirectoryWriters = 1024;

    public static TextSinkPath Parse(string? path, List<string> problems)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            problems.Add("path must not be empty");
            return default;
        }
        var dir = path.EndsWith('/') || path.EndsWith(System.IO.Path.DirectorySeparatorChar);
        return new TextSinkPath(System.IO.Path.GetFullPath(path), dir);
    }
}

/// <summary>The writer behind the JSON-lines and CSV sinks (both file layouts; see <see cref="JsonLinesFileSink"/>).</summary>
internal sealed class TextFileSinkWriter : ISinkWriter
{
    private const int FlushBytes = 1 << 20;

    private readonly TextSinkPath _path;
    private ITextEncoder _encoder;
    private Schema? _schema;
    private readonly Func<Schema, ITextEncoder>? _reencode;
    private readonly StagedParts? _parts;
    private readonly ByteBuffer _buffer = new(FlushBytes + (FlushBytes >> 2));
    private FileStream? _file;
    private bool _opened;

    public TextFileSinkWriter(TextSinkPath path, ITextEncoder encoder, int instance, Schema? schema = null, Func<Schema, ITextEncoder>? reencode = null)
    {
        _path = path;
        _encoder = encoder;
        _schema = schema;
        _reencode = reencode;
        if (path.IsDirectory) _parts = new StagedParts(path.Path, $"part-{instance}", encoder.Extension);
    }

    public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (_opened) throw new InvalidOperationException("writer already opened");
        _opened = true;
        if (_parts != null)
        {
            _parts.Restore(restoredState == null ? null : FileSinkState.ReadParts(restoredState));
            return default;
        }
        var dir = Path.GetDirectoryName(_path.Path)!;
        Directory.CreateDirectory(dir);
        if (restoredState == null)
        {
            File.Delete(_path.Path);
            _file = Create(_path.Path, FileMode.CreateNew);
        }
        else
        {
            var committed = FileSinkState.ReadLength(restoredState);
            _file = Create(_path.Path, committed == 0 ? FileMode.OpenOrCreate : FileMode.Open);
            if (_file.Length < committed)
                throw new IOException($"{_path.Path} is {_file.Length} bytes but a completed checkpoint committed {committed}: the file was truncated or replaced outside the pipeline");
            _file.SetLength(committed);
            _file.Flush(flushToDisk: true);
            _file.Position = committed;
        }
        if (_file.Length == 0) _encoder.WriteFileHeader(_buffer);
        DurableFs.SyncDirectory(dir);
        return default;
    }

    private static FileStream Create(string path, FileMode mode) =>
        new(path, mode, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0, FileOptions.None);

    public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (!_opened) throw new InvalidOperationException("OpenAsync must be called before WriteAsync");
        if (batch.Length == 0) return;
        if (_file == null)
        {
            // Directory mode: the part file for this checkpoint interval starts with the first row.
            _file = Create(_parts!.InProgressPath, FileMode.Create);
            _encoder.WriteFileHeader(_buffer);
        }
        if (_reencode != null && !ReferenceEquals(batch.Schema, _schema))
        {
            _encoder = _reencode(batch.Schema);
            _schema = batch.Schema;
        }
        _encoder.Encode(batch, _buffer);
        if (_buffer.Length >= FlushBytes) await FlushBufferAsync(ct).ConfigureAwait(false);
    }

    private async ValueTask FlushBufferAsync(CancellationToken ct)
    {
        if (_buffer.Length == 0 || _file == null) return;
        await _file.WriteAsync(_buffer.Memory, ct).ConfigureAwait(false);
        _buffer.Clear();
    }

    public async ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct)
    {
        if (!_opened) throw new InvalidOperationException("OpenAsync must be called before PreCommitAsync");
        await FlushBufferAsync(ct).ConfigureAwait(false);
        if (_parts == null)
        {
            _file!.Flush(flushToDisk: true);
            return FileSinkState.ForLength(_file.Position);
        }
        if (_file != null)
        {
            _file.Flush(flushToDisk: true);
            await _file.DisposeAsync().ConfigureAwait(false);
            _file = null;
            _parts.Stage(checkpointId);
        }
        return FileSinkState.ForParts(_parts.PendingNames);
    }

    public ValueTask CommitAsync(long checkpointId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        _parts?.Commit(checkpointId);
        return default;
    }

    /// <summary>
    /// Closes the file. Rows written after the last barrier stay uncommitted: in single-file mode they are in
    /// the file until a restore truncates them; in directory mode they stay in the in-progress file.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_file != null)
        {
            try
            {
                await FlushBufferAsync(CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                await _file.DisposeAsync().ConfigureAwait(false);
                _file = null;
            }
        }
        _buffer.Dispose();
    }
}
