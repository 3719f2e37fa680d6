using System.Text.Json;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Json;
using AiEtl.Engine.Runtime;
using Microsoft.Win32.SafeHandles;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>
/// Reads this reader's share of the files with large reads into one reusable buffer, splits lines with a
/// vectorized search and decodes each line in place (no per-line allocation on success).
/// Position = (file index, byte offset, lines consumed) just after the last line of the last batch.
/// </summary>
internal sealed class JsonLinesFileReader : ISourceReader
{
    private readonly JsonLinesFileSource _source;
    private readonly string[] _allFiles;
    private readonly int[] _mine;          // global file indices of this reader's share, ascending
    private readonly ConnectorContext _context;
    private readonly JsonRowDecoder _decoder;
    private readonly BatchBuilder _builder;
    private readonly int _batchSize;
    private readonly KeyValuePair<string, object?>[] _metricTags;

    private int _share;                    // index into _mine of the current file
    private SafeFileHandle? _handle;
    private long _readOffset;              // file offset of the next read
    private byte[] _buf;
    private int _bufStart;                 // first unconsumed byte
    private int _bufEnd;                   // end of valid data
    private int _searched;                 // bytes after _bufStart known to hold no '\n'
    private long _bufFileOffset;           // file offset of _buf[0]
    private long _line;                    // lines consumed in the current file
    private bool _eof;

    // Where to start the current share entry when it is opened (set by RestorePosition).
    private long _openOffset;
    private long _openLine;

    private byte[] _position;
    private bool _started;

    public JsonLinesFileReader(JsonLinesFileSource source, string[] allFiles, int[] mine, ConnectorContext context)
    {
        _source = source;
        _allFiles = allFiles;
        _mine = mine;
        _context = context;
        _decoder = new JsonRowDecoder(source.Schema, source.Options.Columns);
        _batchSize = source.Options.BatchSize;
        _builder = new BatchBuilder(source.Schema, _batchSize);
        _buf = new byte[source.Options.ReadBufferSize];
        _metricTags = [new("pipeline", context.Metrics.Pipeline), new("operator", source.Name)];
        _position = EncodePosition();
    }

    public void RestorePosition(ReadOnlySpan<byte> position)
    {
        if (_started) throw new InvalidOperationException("RestorePosition must be called before the first read");
        int file;
        long offset, line;
        string? name;
        try
        {
            var reader = new Utf8JsonReader(position);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            file = root.GetProperty("file").GetInt32();
            offset = root.GetProperty("offset").GetInt64();
            line = root.GetProperty("line").GetInt64();
            name = root.TryGetProperty("name", out var n) ? n.GetString() : null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new InvalidDataException($"source '{_source.Name}': unreadable checkpoint position", e);
        }
        if (file >= _allFiles.Length)
        {
            _share = _mine.Length; // this reader had finished
        }
        else
        {
            var k = Array.IndexOf(_mine, file);
            if (k < 0 || offset < 0 || line < 0)
                throw new InvalidDataException($"source '{_source.Name}': checkpoint position (file {file}) does not belong to reader {_context.Task}");
            if (name != null && !string.Equals(name, Path.GetFileName(_allFiles[file]), StringComparison.Ordinal))
                throw new InvalidDataException($"source '{_source.Name}': checkpoint refers to file '{name}' at index {file}, but the path now resolves to '{_allFiles[file]}'");
            _share = k;
            _openOffset = offset;
            _openLine = line;
        }
        _position = EncodePosition();
    }

    public async ValueTask<Batch?> ReadNextBatchAsync(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        _started = true;
        while (_builder.Length < _batchSize)
        {
            if (_handle == null)
            {
                if (_share >= _mine.Length) break;
                Open();
            }
            var avail = _bufEnd - _bufStart;
            var nl = _buf.AsSpan(_bufStart + _searched, avail - _searched).IndexOf((byte)'\n');
            if (nl >= 0)
            {
                var len = _searched + nl;
                ProcessLine(len);
                _bufStart += len + 1;
                _searched = 0;
                continue;
            }
            _searched = avail;
            if (_eof)
            {
                if (avail > 0)
                {
                    ProcessLine(avail);
                    _bufStart = _bufEnd;
                    _searched = 0;
                }
                CloseFile();
                _share++;
                continue;
            }
            await FillAsync(ct).ConfigureAwait(false);
        }
        _position = EncodePosition();
        return _builder.Length == 0 ? null : _builder.Build();
    }

    public byte[] SnapshotPosition() => (byte[])_position.Clone();

    private void Open()
    {
        var path = _allFiles[_mine[_share]];
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous | FileOptions.SequentialScan);
        _readOffset = _openOffset;
        _bufFileOffset = _openOffset;
        _line = _openLine;
        _bufStart = _bufEnd = _searched = 0;
        _eof = false;
        _openOffset = 0;
        _openLine = 0;
    }

    private void CloseFile()
    {
        _handle?.Dispose();
        _handle = null;
        _bufStart = _bufEnd = _searched = 0;
    }

    private async ValueTask FillAsync(CancellationToken ct)
    {
        if (_bufStart > 0)
        {
            var live = _bufEnd - _bufStart;
            Buffer.BlockCopy(_buf, _bufStart, _buf, 0, live);
            _bufFileOffset += _bufStart;
            _bufStart = 0;
            _bufEnd = live;
        }
        if (_bufEnd == _buf.Length)
        {
            // A line longer than the buffer: grow for it (it will be a dead letter beyond 1 MiB, raw bytes kept).
            if (_buf.Length >= Array.MaxLength) throw new IOException($"line longer than {Array.MaxLength} bytes in '{_allFiles[_mine[_share]]}'");
            System.Array.Resize(ref _buf, (int)Math.Min((long)_buf.Length * 2, Array.MaxLength));
        }
        var n = await RandomAccess.ReadAsync(_handle!, _buf.AsMemory(_bufEnd), _readOffset, ct).ConfigureAwait(false);
        if (n == 0)
        {
            _eof = true;
            return;
        }
        _bufEnd += n;
        _readOffset += n;
    }

    /// <summary>Decodes the line of <paramref name="len"/> bytes at <c>_bufStart</c> (newline excluded).</summary>
    private void ProcessLine(int len)
    {
        _line++;
        var line = _buf.AsSpan(_bufStart, len);
        if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
        if (line.IndexOfAnyExcept((byte)' ', (byte)'\t', (byte)'\r') < 0) return; // blank
        if (_decoder.TryDecode(line, _builder, out var error)) return;
        var offset = _bufFileOffset + _bufStart;
        _context.DeadLetters.Write(new DeadLetter
        {
            Source = _source.Name,
            Position =
            [
                new("file", _allFiles[_mine[_share]]),
                new("line", _line),
                new("byte_offset", offset),
            ],
            ErrorClass = error.ErrorClass,
            Error = error.Message,
            Raw = line.ToArray(),
        });
        Interlocked.Increment(ref _context.Metrics.DeadLetters);
        _context.Metrics.DeadLetterCount.Add(1, _metricTags);
    }

    private byte[] EncodePosition()
    {
        int file;
        long offset, line;
        if (_share >= _mine.Length)
        {
            file = _allFiles.Length;
            offset = 0;
            line = 0;
        }
        else if (_handle != null)
        {
            file = _mine[_share];
            offset = _bufFileOffset + _bufStart;
            line = _line;
        }
        else
        {
            file = _mine[_share];
            offset = _openOffset;
            line = _openLine;
        }
        using var ms = new MemoryStream(128);
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("file"u8, file);
            if (file < _allFiles.Length) w.WriteString("name"u8, Path.GetFileName(_allFiles[file]));
            w.WriteNumber("offset"u8, offset);
            w.WriteNumber("line"u8, line);
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    public ValueTask DisposeAsync()
    {
        CloseFile();
        _builder.Dispose();
        return default;
    }
}
