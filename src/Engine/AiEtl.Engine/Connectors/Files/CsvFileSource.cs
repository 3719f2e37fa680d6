using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>Options of <see cref="CsvFileSource"/>.</summary>
public sealed record CsvSourceOptions
{
    /// <summary>A file path or a glob (<c>*</c>, <c>?</c>, <c>**</c>); files are read in ordinal path order.</summary>
    public required string Path { get; init; }

    /// <summary>The declared schema: output columns in this order.</summary>
    public required IReadOnlyList<FileColumn> Columns { get; init; }

    /// <summary>True: the first row names the columns and declared columns are matched by name (unknown
    /// columns are ignored; a missing optional column is NULL). False: fields are taken by position.</summary>
    public bool Header { get; init; } = true;

    /// <summary>Field delimiter (ASCII, not a quote, CR or LF).</summary>
    public char Delimiter { get; init; } = ',';

    /// <summary>Rows per output batch (at most; a batch never spans two files).</summary>
    public int BatchSize { get; init; } = 8192;

    public string Name { get; init; } = "csv";
}

/// <summary>
/// Reads RFC 4180 CSV files into batches of a declared schema. Quoted fields may hold delimiters, doubled quotes
/// and line breaks; records end with LF or CRLF; blank lines and a UTF-8 byte-order mark at the start of a file
/// are skipped. An empty field is NULL, except that for string columns only an empty <em>unquoted</em> field is
/// NULL and <c>""</c> is the empty string. Values: integers <c>-?[0-9]+</c> (exact, in range); floats in decimal
/// or exponent form plus <c>NaN</c>/<c>Infinity</c>/<c>-Infinity</c> (overflow rejected); bools
/// <c>true</c>/<c>false</c> (any case) or <c>1</c>/<c>0</c>; dates <c>YYYY-MM-DD</c>; timestamps as declared by the
/// column's <see cref="TimeFormat"/> (ISO-8601 with a zone by default). Nothing is trimmed.
/// <para>A record with the wrong number of fields, broken quoting, invalid UTF-8 in a string column, an
/// unparsable value, or a missing/NULL required column goes to the dead-letter output with its raw bytes and
/// position {file, line, byte_offset}; reading goes on. Files are split across readers (file <c>k</c> goes to
/// reader <c>k % P</c>); a reader's checkpoint position is (file index, byte offset, line) of its next record.</para>
/// </summary>
public sealed class CsvFileSource : ISource
{
    public CsvFileSource(CsvSourceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Path)) problems.Add("path must not be empty");
        FileColumn.Validate(options.Columns, problems);
        if (options.Delimiter is '"' or '\r' or '\n' || options.Delimiter > 0x7F)
            problems.Add($"delimiter must be an ASCII character other than a quote, CR or LF (got U+{(int)options.Delimiter:X4})");
        if (options.BatchSize < 1) problems.Add($"batch_size must be positive (got {options.BatchSize})");
        if (string.IsNullOrWhiteSpace(options.Name)) problems.Add("name must not be empty");
        IReadOnlyList<string> files = [];
        if (!string.IsNullOrWhiteSpace(options.Path))
        {
            files = FileGlob.Expand(options.Path);
            if (files.Count == 0) problems.Add($"path: no file matches '{options.Path}'");
        }
        ConnectorConfigException.ThrowIfAny($"csv source '{options.Name}'", problems);
        Options = options;
        Files = files;
        Schema = FileColumn.ToSchema(options.Columns);
    }

    public CsvSourceOptions Options { get; }

    /// <summary>The matched files, in reading order (a position's file index points into this list).</summary>
    public IReadOnlyList<string> Files { get; }

    public string Name => Options.Name;
    public Schema Schema { get; }
    public int MaxParallelism => Files.Count;
    public bool IsBounded => true;

    public ISourceReader CreateReader(ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new CsvFileReader(this, context);
    }
}

internal sealed class CsvFileReader : ISourceReader
{
    private const byte PositionVersion = 1;
    private const int InitialBufferBytes = 1 << 20;
    private const byte Quoted = 1;
    private const byte Escaped = 2;

    private enum Scan
    {
        Record,
        NeedMore,
        End,
    }

    private readonly CsvFileSource _source;
    private readonly ConnectorContext _context;
    private readonly FileColumn[] _columns;
    private readonly byte _delimiter;
    private readonly SearchValues<byte> _unquotedStops;
    private readonly int _stride;
    private readonly int _batchSize;
    private readonly BatchBuilder _builder;

    // Position of the next record to read.
    private int _fileIndex;
    private long _nextOffset;
    private long _nextLine = 1;

    // The open file.
    private FileStream? _stream;
    private byte[] _buf = ArrayPool<byte>.Shared.Rent(InitialBufferBytes);
    private int _pos;
    private int _len;
    private long _bufStart;
    private bool _eof;
    private readonly int[] _mapping;
    private int _expectedFields;
    private string? _fileError;

    // Fields of the record just scanned (relative to _buf).
    private int[] _fieldStart = new int[64];
    private int[] _fieldLength = new int[64];
    private byte[] _fieldFlags = new byte[64];
    private int _fieldCount;
    private string? _recordError;

    public CsvFileReader(CsvFileSource source, ConnectorContext context)
    {
        _source = source;
        _context = context;
        _columns = [.. source.Options.Columns];
        _delimiter = (byte)source.Options.Delimiter;
        _unquotedStops = SearchValues.Create([_delimiter, (byte)'\n', (byte)'"']);
        _stride = Math.Max(1, context.Task.Parallelism);
        _fileIndex = context.Task.Index;
        _batchSize = source.Options.BatchSize;
        _builder = new BatchBuilder(source.Schema, _batchSize);
        _mapping = new int[_columns.Length];
    }

    public void RestorePosition(ReadOnlySpan<byte> position)
    {
        if (position.Length != 21 || position[0] != PositionVersion)
            throw new InvalidDataException("csv source: unrecognised checkpoint position");
        var file = BinaryPrimitives.ReadInt32LittleEndian(position[1..]);
        var offset = BinaryPrimitives.ReadInt64LittleEndian(position[5..]);
        var line = BinaryPrimitives.ReadInt64LittleEndian(position[13..]);
        if (file < 0 || offset < 0 || line < 1 || (file < _source.Files.Count && file % _stride != _context.Task.Index % _stride))
            throw new InvalidDataException($"csv source: position (file {file}) does not belong to reader {_context.Task}");
        if (_stream != null) throw new InvalidOperationException("RestorePosition must be called before the first read");
        _fileIndex = file;
        _nextOffset = offset;
        _nextLine = line;
    }

    public byte[] SnapshotPosition()
    {
        var p = new byte[21];
        p[0] = PositionVersion;
        BinaryPrimitives.WriteInt32LittleEndian(p.AsSpan(1), _fileIndex);
        BinaryPrimitives.WriteInt64LittleEndian(p.AsSpan(5), _nextOffset);
        BinaryPrimitives.WriteInt64LittleEndian(p.AsSpan(13), _nextLine);
        return p;
    }

    public async ValueTask<Batch?> ReadNextBatchAsync(CancellationToken ct)
    {
        var consumed = 0;
        while (true)
        {
            if (_stream == null)
            {
                if (_fileIndex >= _source.Files.Count) return null;
                await OpenFileAsync(ct).ConfigureAwait(false);
            }
            while (true)
            {
                var scan = ScanRecord(out var start, out var end, out var next);
                if (scan == Scan.NeedMore)
                {
                    await FillAsync(ct).ConfigureAwait(false);
                    continue;
                }
                if (scan == Scan.End)
                {
                    CloseFile();
                    _fileIndex += _stride;
                    _nextOffset = 0;
                    _nextLine = 1;
                    if (_builder.Length > 0 || consumed > 0) return _builder.Build();
                    break;
                }
                ProcessRecord(start, end);
                _nextLine += _buf.AsSpan(start, next - start).Count((byte)'\n');
                _pos = next;
                _nextOffset = _bufStart + next;
                consumed++;
                if (_builder.Length >= _batchSize || consumed >= 4 * _batchSize) return _builder.Build();
            }
        }
    }

    private async ValueTask OpenFileAsync(CancellationToken ct)
    {
        var path = _source.Files[_fileIndex];
        _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1, FileOptions.SequentialScan);
        _bufStart = 0;
        _pos = _len = 0;
        _eof = false;
        _fileError = null;
        var restoring = _nextOffset > 0;
        if (!restoring || _source.Options.Header)
        {
            await FillAsync(ct).ConfigureAwait(false);
            if (_len >= 3 && _buf[0] == 0xEF && _buf[1] == 0xBB && _buf[2] == 0xBF)
            {
                _pos = 3;
                _nextOffset = restoring ? _nextOffset : 3;
            }
        }
        if (_source.Options.Header)
        {
            var (line, offset) = (_nextLine, _nextOffset);
            await ReadHeaderAsync(reportMalformed: !restoring, ct).ConfigureAwait(false);
            if (restoring) (_nextLine, _nextOffset) = (line, offset);
        }
        else
        {
            _expectedFields = _columns.Length;
            for (var j = 0; j < _columns.Length; j++) _mapping[j] = j;
        }
        if (restoring)
        {
            if (_nextOffset > _stream.Length)
                throw new InvalidDataException($"{path}: checkpoint position {_nextOffset} is beyond the end of the file ({_stream.Length} bytes); the file changed since the checkpoint");
            _stream.Position = _nextOffset;
            _bufStart = _nextOffset;
            _pos = _len = 0;
            _eof = false;
        }
        else
        {
            _nextOffset = _bufStart + _pos;
        }
    }

    private async ValueTask ReadHeaderAsync(bool reportMalformed, CancellationToken ct)
    {
        Scan scan;
        int start, end, next;
        while ((scan = ScanRecord(out start, out end, out next)) == Scan.NeedMore) await FillAsync(ct).ConfigureAwait(false);
        System.Array.Fill(_mapping, -1);
        if (scan == Scan.End)
        {
            _expectedFields = 0;
            return;
        }
        _expectedFields = _fieldCount;
        if (_recordError != null)
        {
            _fileError = $"the header row is malformed ({_recordError})";
            if (reportMalformed) DeadLetter(start, end, "decode", _fileError);
        }
        else
        {
            var names = new string[_fieldCount];
            for (var f = 0; f < _fieldCount; f++)
            {
                var raw = _buf.AsSpan(_fieldStart[f], _fieldLength[f]);
                names[f] = (_fieldFlags[f] & Escaped) != 0
                    ? Encoding.UTF8.GetString(raw).Replace("\"\"", "\"", StringComparison.Ordinal)
                    : Encoding.UTF8.GetString(raw);
            }
            for (var j = 0; j < _columns.Length; j++)
            {
                for (var f = 0; f < names.Length; f++)
                {
                    if (names[f] != _columns[j].Name) continue;
                    if (_mapping[j] >= 0)
                    {
                        _fileError = $"column {_columns[j].Name} appears more than once in the header";
                        break;
                    }
                    _mapping[j] = f;
                }
            }
        }
        _nextLine += _buf.AsSpan(start, next - start).Count((byte)'\n');
        _pos = next;
    }

    private async ValueTask FillAsync(CancellationToken ct)
    {
        if (_eof) throw new InvalidOperationException("csv reader asked for more data after the end of the file");
        if (_pos > 0)
        {
            System.Buffer.BlockCopy(_buf, _pos, _buf, 0, _len - _pos);
            _bufStart += _pos;
            _len -= _pos;
            _pos = 0;
        }
        if (_len == _buf.Length)
        {
            if (_buf.Length >= System.Array.MaxLength / 2)
                throw new InvalidDataException($"{_source.Files[_fileIndex]}: a record at byte {_bufStart} is larger than 1 GiB (unterminated quote?)");
            var bigger = ArrayPool<byte>.Shared.Rent(_buf.Length * 2);
            System.Buffer.BlockCopy(_buf, 0, bigger, 0, _len);
            ArrayPool<byte>.Shared.Return(_buf);
            _buf = bigger;
        }
        var n = await _stream!.ReadAsync(_buf.AsMemory(_len), ct).ConfigureAwait(false);
        if (n == 0) _eof = true;
        else _len += n;
    }

    /// <summary>
    /// Finds the next record from <c>_pos</c>: its raw extent [start, end) without the line end, and where the
    /// record after it starts. Blank lines before it are consumed. Restartable: on NeedMore nothing but
    /// blank-line skipping has been committed.
    /// </summary>
    private Scan ScanRecord(out int start, out int end, out int next)
    {
        var buf = _buf;
        var len = _len;
        var final = _eof;
        var p = _pos;
        start = end = next = p;
        while (true)
        {
            if (p == len) return final ? Scan.End : Scan.NeedMore;
            if (buf[p] == '\n')
            {
                _pos = ++p;
                _nextLine++;
                _nextOffset = _bufStart + p;
                continue;
            }
            if (buf[p] == '\r')
            {
                if (p + 1 == len && !final) return Scan.NeedMore;
                if (p + 1 < len && buf[p + 1] == '\n')
                {
                    p += 2;
                    _pos = p;
                    _nextLine++;
                    _nextOffset = _bufStart + p;
                    continue;
                }
            }
            break;
        }
        start = p;
        _fieldCount = 0;
        _recordError = null;
        while (true)
        {
            if (p == len)
            {
                // Only reachable after a delimiter at the very end of the file: a trailing empty field.
                if (!final) return Scan.NeedMore;
                AddField(p, 0, 0);
                end = next = p;
                return Scan.Record;
            }
            if (buf[p] == '"')
            {
                var q = p + 1;
                var escaped = false;
                while (true)
                {
                    var i = buf.AsSpan(q, len - q).IndexOf((byte)'"');
                    if (i < 0)
                    {
                        if (!final) return Scan.NeedMore;
                        _recordError = "unterminated quoted field";
                        end = next = len;
                        return Scan.Record;
                    }
                    q += i;
                    if (q + 1 == len && !final) return Scan.NeedMore;
                    if (q + 1 < len && buf[q + 1] == '"')
                    {
                        escaped = true;
                        q += 2;
                        continue;
                    }
                    break;
                }
                AddField(p + 1, q - p - 1, escaped ? (byte)(Quoted | Escaped) : Quoted);
                p = q + 1;
                if (p == len)
                {
                    end = next = p;
                    return Scan.Record;
                }
                var b = buf[p];
                if (b == _delimiter)
                {
                    p++;
                    continue;
                }
                if (b == '\n')
                {
                    end = p;
                    next = p + 1;
                    return Scan.Record;
                }
                if (b == '\r')
                {
                    if (p + 1 == len && !final) return Scan.NeedMore;
                    if (p + 1 < len && buf[p + 1] == '\n')
                    {
                        end = p;
                        next = p + 2;
                        return Scan.Record;
                    }
                }
                _recordError = "unexpected character after a closing quote";
                return SkipToLineEnd(p, out end, out next);
            }
            else
            {
                var i = buf.AsSpan(p, len - p).IndexOfAny(_unquotedStops);
                if (i < 0)
                {
                    if (!final) return Scan.NeedMore;
                    AddField(p, len - p, 0);
                    end = next = len;
                    return Scan.Record;
                }
                var at = p + i;
                var b = buf[at];
                if (b == _delimiter)
                {
                    AddField(p, at - p, 0);
                    p = at + 1;
                    continue;
                }
                if (b == '\n')
                {
                    var fieldEnd = at > p && buf[at - 1] == '\r' ? at - 1 : at;
                    AddField(p, fieldEnd - p, 0);
                    end = fieldEnd;
                    next = at + 1;
                    return Scan.Record;
                }
                _recordError = "quote inside an unquoted field";
                return SkipToLineEnd(at, out end, out next);
            }
        }
    }

    private Scan SkipToLineEnd(int from, out int end, out int next)
    {
        var i = _buf.AsSpan(from, _len - from).IndexOf((byte)'\n');
        if (i < 0)
        {
            end = next = _len;
            return _eof ? Scan.Record : Scan.NeedMore;
        }
        var at = from + i;
        end = at > 0 && _buf[at - 1] == '\r' ? at - 1 : at;
        next = at + 1;
        return Scan.Record;
    }

    private void AddField(int start, int length, byte flags)
    {
        if (_fieldCount == _fieldStart.Length)
        {
            System.Array.Resize(ref _fieldStart, _fieldCount * 2);
            System.Array.Resize(ref _fieldLength, _fieldCount * 2);
            System.Array.Resize(ref _fieldFlags, _fieldCount * 2);
        }
        _fieldStart[_fieldCount] = start;
        _fieldLength[_fieldCount] = length;
        _fieldFlags[_fieldCount] = flags;
        _fieldCount++;
    }

    private void ProcessRecord(int start, int end)
    {
        if (_recordError != null)
        {
            DeadLetter(start, end, "decode", _recordError);
            return;
        }
        if (_fileError != null)
        {
            DeadLetter(start, end, "schema", _fileError);
            return;
        }
        if (_fieldCount != _expectedFields)
        {
            DeadLetter(start, end, "decode", $"expected {_expectedFields} fields, found {_fieldCount}");
            return;
        }
        var row = _builder.Length;
        for (var j = 0; j < _columns.Length; j++)
        {
            var error = AppendField(j, out var errorClass);
            if (error != null)
            {
                _builder.Truncate(row);
                DeadLetter(start, end, errorClass, error);
                return;
            }
        }
    }

    /// <summary>Appends column <paramref name="j"/> of the current record; returns an error message or null.</summary>
    private string? AppendField(int j, out string errorClass)
    {
        errorClass = "convert";
        var col = _columns[j];
        var builder = _builder[j];
        var f = _mapping[j];
        if (f < 0)
        {
            if (!col.Required)
            {
                builder.AppendNull();
                return null;
            }
            errorClass = "schema";
            return $"required column {col.Name} is not in the file header";
        }
        var value = new ReadOnlySpan<byte>(_buf, _fieldStart[f], _fieldLength[f]);
        var flags = _fieldFlags[f];
        if (value.IsEmpty && (col.Kind != ColumnKind.String || (flags & Quoted) == 0))
        {
            if (!col.Required)
            {
                builder.AppendNull();
                return null;
            }
            errorClass = "schema";
            return $"required column {col.Name} is empty (NULL)";
        }
        switch (col.Kind)
        {
            case ColumnKind.String:
                if (!Utf8.IsValid(value))
                {
                    errorClass = "decode";
                    return $"column {col.Name}: invalid UTF-8";
                }
                if ((flags & Escaped) == 0)
                {
                    builder.AppendUtf8(value);
                }
                else
                {
                    var dst = builder.ReserveUtf8(value.Length);
                    var n = 0;
                    for (var i = 0; i < value.Length; i++)
                    {
                        dst[n++] = value[i];
                        if (value[i] == '"') i++;
                    }
                    builder.CommitUtf8(n);
                }
                return null;
            case ColumnKind.Int64:
                if (!TextValues.TryParseInt64(value, out var l)) return CannotParse(col, value);
                builder.AppendInt64(l);
                return null;
            case ColumnKind.Int32:
                if (!TextValues.TryParseInt32(value, out var i32)) return CannotParse(col, value);
                builder.AppendInt32(i32);
                return null;
            case ColumnKind.Float64:
                if (!TextValues.TryParseDouble(value, out var d)) return CannotParse(col, value);
                builder.AppendDouble(d);
                return null;
            case ColumnKind.Bool:
                if (!TextValues.TryParseBool(value, out var b)) return CannotParse(col, value);
                builder.AppendBool(b);
                return null;
            case ColumnKind.Timestamp:
                if (!TextValues.TryParseTimestamp(value, col.TimeFormat, out var ts)) return CannotParse(col, value);
                builder.AppendInt64(ts);
                return null;
            case ColumnKind.Date:
                if (!TextValues.TryParseDate(value, out var days)) return CannotParse(col, value);
                builder.AppendInt32(days);
                return null;
            default:
                errorClass = "schema";
                return $"column {col.Name}: unsupported type {col.Kind}";
        }
    }

    private static string CannotParse(FileColumn col, ReadOnlySpan<byte> value)
    {
        var shown = Encoding.UTF8.GetString(value[..Math.Min(value.Length, 64)]);
        if (value.Length > 64) shown += "…";
        var type = col.Kind == ColumnKind.Timestamp && col.TimeFormat != TimeFormat.Iso8601
            ? $"timestamp ({col.TimeFormat})"
            : ColumnTypes.Name(col.Kind);
        return $"column {col.Name}: cannot parse '{shown}' as {type}";
    }

    private void DeadLetter(int start, int end, string errorClass, string error)
    {
        _context.DeadLetters.Write(new DeadLetter
        {
            Source = _source.Name,
            Position =
            [
                new("file", _source.Files[_fileIndex]),
                new("line", _nextLine),
                new("byte_offset", _bufStart + start),
            ],
            ErrorClass = errorClass,
            Error = error,
            Raw = _buf.AsSpan(start, end - start).ToArray(),
        });
    }

    private void CloseFile()
    {
        _stream?.Dispose();
        _stream = null;
    }

    public ValueTask DisposeAsync()
    {
        CloseFile();
        if (_buf.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buf);
            _buf = [];
        }
        _builder.Dispose();
        return default;
    }
}
