using System.Buffers;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Runtime;
using Apache.Arrow;
using Parquet;
using Parquet.Schema;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>Options of <see cref="ParquetFileSink"/>.</summary>
public sealed record ParquetSinkOptions
{
    /// <summary>
    /// <c>out.parquet</c>: one writer, parts in the directory <c>out.parquet.parts/</c> named
    /// <c>part-{checkpointId:D10}.parquet</c>. <c>out/</c> (ending in <c>/</c>): one writer per instance, parts
    /// <c>out/part-{instance}-{checkpointId:D10}.parquet</c>.
    /// </summary>
    public required string Path { get; init; }

    /// <summary>Rows per row group (a part file holds one or more row groups).</summary>
    public int RowGroupRows { get; init; } = 128 * 1024;

    public CompressionMethod Compression { get; init; } = CompressionMethod.Snappy;

    public string Name { get; init; } = "parquet";
}

/// <summary>
/// Writes Parquet part files, exactly once. Parquet files cannot be appended to, so the output is a directory
/// of part files, one per checkpoint interval that saw rows: rows go to <c>….parquet.inprogress</c>; a barrier
/// closes it (footer, fsync) and renames it to <c>part-…-{checkpointId:D10}.parquet.pending</c>; checkpoint
/// completion renames it to its final name. Reading the directory's <c>*.parquet</c> files in name order gives
/// the rows in commit order. Every column is written nullable; timestamps as INT64 microseconds (UTC), dates
/// as DATE.
/// </summary>
public sealed class ParquetFileSink : ISink
{
    private readonly string _directory;
    private readonly bool _perInstance;

    public ParquetFileSink(ParquetSinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        var path = TextSinkPath.Parse(options.Path, problems);
        if (options.RowGroupRows < 1) problems.Add($"row_group_rows must be positive (got {options.RowGroupRows})");
        if (!Enum.IsDefined(options.Compression)) problems.Add($"unknown compression {options.Compression}");
        if (string.IsNullOrWhiteSpace(options.Name)) problems.Add("name must not be empty");
        ConnectorConfigException.ThrowIfAny("parquet sink", problems);
        Options = options;
        _perInstance = path.IsDirectory;
        _directory = path.IsDirectory ? path.Path : path.Path + ".parts";
    }

    public ParquetSinkOptions Options { get; }
    public string Name => Options.Name;

    /// <summary>Directory holding the part files.</summary>
    public string PartsDirectory => _directory;

    public int MaxParallelism => _perInstance ? TextSinkPath.MaxDirectoryWriters : 1;
    public IReadOnlyList<string> Validate(Schema input) => ArrowColumnCursor.ValidateSchema(input);

    public ISinkWriter CreateWriter(Schema input, ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(context);
        var prefix = _perInstance ? $"part-{context.Task.Index}" : "part";
        return new ParquetFileSinkWriter(input, new StagedParts(_directory, prefix, ".parquet"), Options);
    }

    internal static DataField ToParquetField(Apache.Arrow.Field f, ColumnKind kind) => kind switch
    {
        ColumnKind.Bool => new DataField<bool?>(f.Name),
        ColumnKind.Int32 => new DataField<int?>(f.Name),
        ColumnKind.Int64 => new DataField<long?>(f.Name),
        ColumnKind.Float64 => new DataField<double?>(f.Name),
        ColumnKind.String => new DataField<string>(f.Name, true),
        ColumnKind.Timestamp => new DateTimeDataField(f.Name, DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: true),
        ColumnKind.Date => new DateTimeDataField(f.Name, DateTimeFormat.Date, isNullable: true),
        _ => throw new NotSupportedException($"column {f.Name}: {kind} cannot be written to Parquet"),
    };
}

internal sealed class ParquetFileSinkWriter : ISinkWriter
{
    private readonly StagedParts _parts;
    private readonly ParquetOptions _options;
    private readonly int _rowGroupRows;
    private readonly ParquetSchema _schema;
    private readonly DataField[] _fields;
    private readonly ArrowColumnCursor[] _cursors;
    private readonly ParquetColumnBuffer[] _buffers;
    private FileStream? _file;
    private ParquetWriter? _writer;
    private int _rows;
    private bool _opened;

    public ParquetFileSinkWriter(Schema input, StagedParts parts, ParquetSinkOptions options)
    {
        _parts = parts;
        _rowGroupRows = options.RowGroupRows;
        _options = new ParquetOptions { CompressionMethod = options.Compression };
        _cursors = ArrowColumnCursor.ForSchema(input);
        _fields = new DataField[_cursors.Length];
        _buffers = new ParquetColumnBuffer[_cursors.Length];
        for (var i = 0; i < _fields.Length; i++)
        {
            _fields[i] = ParquetFileSink.ToParquetField(input.FieldsList[i], _cursors[i].Kind);
            _buffers[i] = new ParquetColumnBuffer(input.FieldsList[i].Name, _cursors[i].Kind, _rowGroupRows);
        }
        _schema = new ParquetSchema(_fields);
    }

    public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (_opened) throw new InvalidOperationException("writer already opened");
        _opened = true;
        _parts.Restore(restoredState == null ? null : FileSinkState.ReadParts(restoredState));
        return default;
    }

    public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (!_opened) throw new InvalidOperationException("OpenAsync must be called before WriteAsync");
        var n = batch.Length;
        if (n == 0) return;
        for (var c = 0; c < _cursors.Length; c++) _cursors[c].Attach(batch.Column(c));
        try
        {
            var at = 0;
            while (at < n)
            {
                var take = Math.Min(n - at, _rowGroupRows - _rows);
                for (var c = 0; c < _buffers.Length; c++) _buffers[c].Append(_cursors[c], at, take);
                _rows += take;
                at += take;
                if (_rows == _rowGroupRows) await FlushRowGroupAsync(ct).ConfigureAwait(false);
            }
        }
        finally
        {
            for (var c = 0; c < _cursors.Length; c++) _cursors[c].Release();
        }
    }

    private async ValueTask FlushRowGroupAsync(CancellationToken ct)
    {
        if (_rows == 0) return;
        if (_writer == null)
        {
            _file = new FileStream(_parts.InProgressPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16);
            _writer = await ParquetWriter.CreateAsync(_schema, _file, _options, false, ct).ConfigureAwait(false);
        }
        using (var rg = _writer.CreateRowGroup())
        {
            for (var c = 0; c < _buffers.Length; c++) await _buffers[c].WriteAsync(rg, _fields[c], ct).ConfigureAwait(false);
        }
        foreach (var b in _buffers) b.Reset();
        _rows = 0;
    }

    public async ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct)
    {
        if (!_opened) throw new InvalidOperationException("OpenAsync must be called before PreCommitAsync");
        await FlushRowGroupAsync(ct).ConfigureAwait(false);
        if (_writer != null)
        {
            await _writer.DisposeAsync().ConfigureAwait(false);
            _writer = null;
            _file!.Flush(flushToDisk: true);
            await _file.DisposeAsync().ConfigureAwait(false);
            _file = null;
            _parts.Stage(checkpointId);
        }
        return FileSinkState.ForParts(_parts.PendingNames);
    }

    public ValueTask CommitAsync(long checkpointId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        _parts.Commit(checkpointId);
        return default;
    }

    /// <summary>Closes without committing: rows after the last barrier stay in the in-progress file (discarded on restore).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_writer != null)
        {
            try
            {
                await _writer.DisposeAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
                // The in-progress file is discarded on the next open anyway.
            }
            _writer = null;
        }
        if (_file != null)
        {
            await _file.DisposeAsync().ConfigureAwait(false);
            _file = null;
        }
        foreach (var b in _buffers) b.Dispose();
    }
}

/// <summary>
/// One column of the row group being assembled: dense non-null values plus definition levels, in pooled arrays
/// (strings as UTF-16 in one char buffer, since Parquet.Net takes <see cref="ReadOnlyMemory{T}"/> of char).
/// </summary>
internal sealed class ParquetColumnBuffer : IDisposable
{
    private static readonly long EpochTicks = DateTime.UnixEpoch.Ticks;

    private readonly string _name;
    private readonly ColumnKind _kind;
    private int[] _defs;
    private long[]? _i64;
    private int[]? _i32;
    private double[]? _f64;
    private bool[]? _bool;
    private DateTime[]? _time;
    private char[]? _chars;
    private int[]? _strStart;
    private ReadOnlyMemory<char>[]? _strings;
    private int _charLength;
    private int _rows;
    private int _count;

    public ParquetColumnBuffer(string name, ColumnKind kind, int capacity)
    {
        _name = name;
        _kind = kind;
        _defs = ArrayPool<int>.Shared.Rent(capacity);
        switch (kind)
        {
            case ColumnKind.Int64: _i64 = ArrayPool<long>.Shared.Rent(capacity); break;
            case ColumnKind.Int32: _i32 = ArrayPool<int>.Shared.Rent(capacity); break;
            case ColumnKind.Float64: _f64 = ArrayPool<double>.Shared.Rent(capacity); break;
            case ColumnKind.Bool: _bool = ArrayPool<bool>.Shared.Rent(capacity); break;
            case ColumnKind.Timestamp or ColumnKind.Date: _time = ArrayPool<DateTime>.Shared.Rent(capacity); break;
            case ColumnKind.String:
                _strStart = ArrayPool<int>.Shared.Rent(capacity + 1);
                _chars = ArrayPool<char>.Shared.Rent(Math.Max(capacity * 8, 1024));
                break;
        }
    }

    public void Append(ArrowColumnCursor col, int from, int count)
    {
        for (var r = from; r < from + count; r++)
        {
            if (col.IsNull(r))
            {
                _defs[_rows++] = 0;
                continue;
            }
            _defs[_rows++] = 1;
            switch (_kind)
            {
                case ColumnKind.Int64: _i64![_count] = col.Int64(r); break;
                case ColumnKind.Int32: _i32![_count] = col.Int32(r); break;
                case ColumnKind.Float64: _f64![_count] = col.Double(r); break;
                case ColumnKind.Bool: _bool![_count] = col.Bool(r); break;
                case ColumnKind.Timestamp: _time![_count] = ToDateTime(col.Int64(r) * 10); break;
                case ColumnKind.Date: _time![_count] = ToDateTime(col.Int32(r) * TimeSpan.TicksPerDay); break;
                case ColumnKind.String:
                    var utf8 = col.Utf8(r);
                    if (_chars!.Length - _charLength < utf8.Length) GrowChars(utf8.Length);
                    _strStart![_count] = _charLength;
                    _charLength += Encoding.UTF8.GetChars(utf8, _chars.AsSpan(_charLength));
                    break;
            }
            _count++;
        }
    }

    private DateTime ToDateTime(long ticksSinceEpoch)
    {
        var ticks = ticksSinceEpoch + EpochTicks;
        if (ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks)
            throw new InvalidDataException($"column {_name}: a value outside years 0001–9999 cannot be written to Parquet");
        return new DateTime(ticks, DateTimeKind.Utc);
    }

    private void GrowChars(int more)
    {
        var bigger = ArrayPool<char>.Shared.Rent(Math.Max(_chars!.Length * 2, _charLength + more));
        _chars.AsSpan(0, _charLength).CopyTo(bigger);
        ArrayPool<char>.Shared.Return(_chars);
        _chars = bigger;
    }

    public async ValueTask WriteAsync(ParquetRowGroupWriter rg, DataField field, CancellationToken ct)
    {
        var defs = (ReadOnlyMemory<int>)_defs.AsMemory(0, _rows);
        switch (_kind)
        {
            case ColumnKind.Int64:
                await rg.WriteAllPartsAsync<long>(field, _i64.AsMemory(0, _count), defs, null, ct).ConfigureAwait(false);
                break;
            case ColumnKind.Int32:
                await rg.WriteAllPartsAsync<int>(field, _i32.AsMemory(0, _count), defs, null, ct).ConfigureAwait(false);
                break;
            case ColumnKind.Float64:
                await rg.WriteAllPartsAsync<double>(field, _f64.AsMemory(0, _count), defs, null, ct).ConfigureAwait(false);
                break;
            case ColumnKind.Bool:
                await rg.WriteAllPartsAsync<bool>(field, _bool.AsMemory(0, _count), defs, null, ct).ConfigureAwait(false);
                break;
            case ColumnKind.Timestamp or ColumnKind.Date:
                await rg.WriteAllPartsAsync<DateTime>(field, _time.AsMemory(0, _count), defs, null, ct).ConfigureAwait(false);
                break;
            case ColumnKind.String:
                if (_strings == null || _strings.Length < _count)
                {
                    if (_strings != null) ArrayPool<ReadOnlyMemory<char>>.Shared.Return(_strings, clearArray: true);
                    _strings = ArrayPool<ReadOnlyMemory<char>>.Shared.Rent(Math.Max(_count, _defs.Length));
                }
                _strStart![_count] = _charLength;
                for (var i = 0; i < _count; i++) _strings[i] = _chars.AsMemory(_strStart[i], _strStart[i + 1] - _strStart[i]);
                await rg.WriteAllPartsAsync<ReadOnlyMemory<char>>(field, _strings.AsMemory(0, _count), defs, null, ct).ConfigureAwait(false);
                break;
        }
    }

    public void Reset()
    {
        _rows = 0;
        _count = 0;
        _charLength = 0;
    }

    public void Dispose()
    {
        if (_defs.Length == 0) return;
        ArrayPool<int>.Shared.Return(_defs);
        _defs = [];
        if (_i64 != null) ArrayPool<long>.Shared.Return(_i64);
        if (_i32 != null) ArrayPool<int>.Shared.Return(_i32);
        if (_f64 != null) ArrayPool<double>.Shared.Return(_f64);
        if (_bool != null) ArrayPool<bool>.Shared.Return(_bool);
        if (_time != null) ArrayPool<DateTime>.Shared.Return(_time);
        if (_chars != null) ArrayPool<char>.Shared.Return(_chars);
        if (_strStart != null) ArrayPool<int>.Shared.Return(_strStart);
        if (_strings != null) ArrayPool<ReadOnlyMemory<char>>.Shared.Return(_strings, clearArray: true);
        _i64 = null;
        _i32 = null;
        _f64 = null;
        _bool = null;
        _time = null;
        _chars = null;
        _strStart = null;
        _strings = null;
    }
}
