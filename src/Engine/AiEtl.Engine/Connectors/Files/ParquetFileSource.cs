using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Runtime;
using Parquet;
using Parquet.Schema;
using ArrowSchema = Apache.Arrow.Schema;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>Options of <see cref="ParquetFileSource"/>.</summary>
public sealed record ParquetSourceOptions
{
    /// <summary>A file path or a glob (<c>*</c>, <c>?</c>, <c>**</c>); files are read in ordinal path order.</summary>
    public required string Path { get; init; }

    /// <summary>The declared schema: columns are selected from each file by name.</summary>
    public required IReadOnlyList<FileColumn> Columns { get; init; }

    /// <summary>Rows per output batch (at most; a batch never spans two row groups).</summary>
    public int BatchSize { get; init; } = 8192;

    public string Name { get; init; } = "parquet";
}

/// <summary>
/// Reads Parquet files column by column into batches of a declared schema. Each declared column is looked up by
/// name among a file's top-level columns; a missing optional column reads as NULL. Accepted physical types
/// (widening only): bool → bool; int8/16/32 and uint8/16 → int32; those plus uint32 and int64 → int64;
/// float/double → float64; UTF-8 strings → string; timestamps (any unit, INT96 too) → timestamp (µs, taken as UTC);
/// DATE → date. Anything else, a nested or repeated column, or a missing required column is a configuration
/// error naming every offending file and column (<see cref="OpenAsync"/>). A NULL in a required column sends the
/// row to the dead-letter output (position {file, row_group, row}; Parquet rows have no raw bytes, so
/// <c>raw</c> is empty). Files are split across readers (file <c>k</c> to reader <c>k % P</c>); the checkpoint
/// position is (file index, row group, row offset) of the next row.
/// </summary>
public sealed class ParquetFileSource : ISource
{
    private ParquetFileSource(ParquetSourceOptions options, IReadOnlyList<string> files)
    {
        Options = options;
        Files = files;
        Schema = FileColumn.ToSchema(options.Columns);
    }

    /// <summary>Validates the options and every matched file's schema against the declared columns.</summary>
    /// <exception cref="ConnectorConfigException">Listing every problem found.</exception>
    public static async Task<ParquetFileSource> OpenAsync(ParquetSourceOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Path)) problems.Add("path must not be empty");
        FileColumn.Validate(options.Columns, problems);
        if (options.BatchSize < 1) problems.Add($"batch_size must be positive (got {options.BatchSize})");
        if (string.IsNullOrWhiteSpace(options.Name)) problems.Add("name must not be empty");
        IReadOnlyList<string> files = [];
        if (!string.IsNullOrWhiteSpace(options.Path))
        {
            files = FileGlob.Expand(options.Path);
            if (files.Count == 0) problems.Add($"path: no file matches '{options.Path}'");
        }
        if (problems.Count == 0)
        {
            foreach (var file in files)
            {
                try
                {
                    var reader = await ParquetReader.CreateAsync(file, null, ct).ConfigureAwait(false);
                    await using (reader.ConfigureAwait(false))
                    {
                        foreach (var p in CheckColumns(reader.Schema, options.Columns, out _)) problems.Add($"{file}: {p}");
                    }
                }
                catch (Exception e) when (e is ParquetException or IOException or InvalidDataException)
                {
                    problems.Add($"{file}: not a readable Parquet file ({e.Message})");
                }
            }
        }
        ConnectorConfigException.ThrowIfAny($"parquet source '{options.Name}'", problems);
        return new ParquetFileSource(options, files);
    }

    public ParquetSourceOptions Options { get; }

    /// <summary>The matched files, in reading order (a position's file index points into this list).</summary>
    public IReadOnlyList<string> Files { get; }

    public string Name => Options.Name;
    public ArrowSchema Schema { get; }
    public int MaxParallelism => Files.Count;
    public bool IsBounded => true;

    public ISourceReader CreateReader(ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new ParquetFileReader(this, context);
    }

    /// <summary>Matches declared columns to a file's columns; returns the problems (empty when all fit).</summary>
    internal static List<string> CheckColumns(ParquetSchema schema, IReadOnlyList<FileColumn> columns, out (DataField? Field, ParquetPhysical Physical)[] plan)
    {
        var problems = new List<string>();
        plan = new (DataField?, ParquetPhysical)[columns.Count];
        for (var j = 0; j < columns.Count; j++)
        {
            var col = columns[j];
            var field = schema.Fields.FirstOrDefault(f => f.Name == col.Name);
            if (field == null)
            {
                if (col.Required) problems.Add($"required column {col.Name} is missing");
                continue;
            }
            if (field is not DataField df || df.IsArray || df.MaxRepetitionLevel > 0)
            {
                problems.Add($"column {col.Name}: declared {ColumnTypes.Name(col.Kind)} but the file holds a nested or repeated column");
                continue;
            }
            var physical = Physical(df);
            if (physical == null || !Accepts(col.Kind, physical.Value))
            {
                problems.Add($"column {col.Name}: declared {ColumnTypes.Name(col.Kind)} but the file holds {Describe(df)}");
                continue;
            }
            plan[j] = (df, physical.Value);
        }
        return problems;
    }

    private static ParquetPhysical? Physical(DataField f)
    {
        var t = f.ClrType;
        if (t == typeof(bool)) return ParquetPhysical.Bool;
        if (t == typeof(sbyte)) return ParquetPhysical.SByte;
        if (t == typeof(byte)) return ParquetPhysical.Byte;
        if (t == typeof(short)) return ParquetPhysical.Int16;
        if (t == typeof(ushort)) return ParquetPhysical.UInt16;
        if (t == typeof(int)) return ParquetPhysical.Int32;
        if (t == typeof(uint)) return ParquetPhysical.UInt32;
        if (t == typeof(long)) return ParquetPhysical.Int64;
        if (t == typeof(float)) return ParquetPhysical.Float;
        if (t == typeof(double)) return ParquetPhysical.Double;
        if (t == typeof(ReadOnlyMemory<char>) || t == typeof(string)) return ParquetPhysical.String;
        if (t == typeof(DateOnly)) return ParquetPhysical.DateOnly;
        if (t == typeof(DateTime))
            return f is DateTimeDataField { DateTimeFormat: DateTimeFormat.Date } ? ParquetPhysical.DateAsDateTime : ParquetPhysical.DateTime;
        return null;
    }

    private static bool Accepts(ColumnKind kind, ParquetPhysical p) => kind switch
    {
        ColumnKind.Bool => p == ParquetPhysical.Bool,
        ColumnKind.Int32 => p is ParquetPhysical.SByte or ParquetPhysical.Byte or ParquetPhysical.Int16 or ParquetPhysical.UInt16 or ParquetPhysical.Int32,
        ColumnKind.Int64 => p is ParquetPhysical.SByte or ParquetPhysical.Byte or ParquetPhysical.Int16 or ParquetPhysical.UInt16
            or ParquetPhysical.Int32 or ParquetPhysical.UInt32 or ParquetPhysical.Int64,
        ColumnKind.Float64 => p is ParquetPhysical.Float or ParquetPhysical.Double,
        ColumnKind.String => p == ParquetPhysical.String,
        ColumnKind.Timestamp => p == ParquetPhysical.DateTime,
        ColumnKind.Date => p is ParquetPhysical.DateAsDateTime or ParquetPhysical.DateOnly,
        _ => false,
    };

    private static string Describe(DataField f)
    {
        if (f is DateTimeDataField dt) return dt.DateTimeFormat == DateTimeFormat.Date ? "date" : $"timestamp ({dt.DateTimeFormat})";
        var t = f.ClrType;
        if (t == typeof(ReadOnlyMemory<char>) || t == typeof(string)) return "string";
        if (t == typeof(ReadOnlyMemory<byte>) || t == typeof(byte[])) return "binary";
        return t.Name.ToLowerInvariant();
    }
}

internal enum ParquetPhysical : byte
{
    Bool,
    SByte,
    Byte,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    Float,
    Double,
    String,
    DateTime,
    DateAsDateTime,
    DateOnly,
}

internal sealed class ParquetFileReader : ISourceReader
{
    private const byte PositionVersion = 1;

    private readonly ParquetFileSource _source;
    private readonly ConnectorContext _context;
    private readonly int _stride;
    private readonly int _batchSize;
    private readonly BatchBuilder _builder;
    private readonly ParquetColumnLoader[] _columns;

    private int _fileIndex;
    private int _rowGroup;
    private long _rowOffset;

    private ParquetReader? _reader;
    private bool _loaded;
    private int _rowGroupRows;

    public ParquetFileReader(ParquetFileSource source, ConnectorContext context)
    {
        _source = source;
        _context = context;
        _stride = Math.Max(1, context.Task.Parallelism);
        _fileIndex = context.Task.Index;
        _batchSize = source.Options.BatchSize;
        _builder = new BatchBuilder(source.Schema, _batchSize);
        _columns = [.. source.Options.Columns.Select(c => new ParquetColumnLoader(c))];
    }

    public void RestorePosition(ReadOnlySpan<byte> position)
    {
        if (position.Length != 17 || position[0] != PositionVersion)
            throw new InvalidDataException("parquet source: unrecognised checkpoint position");
        var file = BinaryPrimitives.ReadInt32LittleEndian(position[1..]);
        var rowGroup = BinaryPrimitives.ReadInt32LittleEndian(position[5..]);
        var row = BinaryPrimitives.ReadInt64LittleEndian(position[9..]);
        if (file < 0 || rowGroup < 0 || row < 0 || (file < _source.Files.Count && file % _stride != _context.Task.Index % _stride))
            throw new InvalidDataException($"parquet source: position (file {file}) does not belong to reader {_context.Task}");
        if (_reader != null) throw new InvalidOperationException("RestorePosition must be called before the first read");
        _fileIndex = file;
        _rowGroup = rowGroup;
        _rowOffset = row;
    }

    public byte[] SnapshotPosition()
    {
        var p = new byte[17];
        p[0] = PositionVersion;
        BinaryPrimitives.WriteInt32LittleEndian(p.AsSpan(1), _fileIndex);
        BinaryPrimitives.WriteInt32LittleEndian(p.AsSpan(5), _rowGroup);
        BinaryPrimitives.WriteInt64LittleEndian(p.AsSpan(9), _rowOffset);
        return p;
    }

    public async ValueTask<Batch?> ReadNextBatchAsync(CancellationToken ct)
    {
        while (true)
        {
            if (_reader == null)
            {
                if (_fileIndex >= _source.Files.Count) return null;
                await OpenFileAsync(ct).ConfigureAwait(false);
            }
            if (_rowGroup >= _reader!.RowGroupCount)
            {
                await NextFileAsync().ConfigureAwait(false);
                continue;
            }
            if (!_loaded)
            {
                var rg = _reader.OpenRowGroupReader(_rowGroup);
                if (rg.RowCount > int.MaxValue) throw new InvalidDataException($"{CurrentFile}: row group {_rowGroup} has more than 2^31 rows");
                _rowGroupRows = (int)rg.RowCount;
                if (_rowOffset > _rowGroupRows)
                    throw new InvalidDataException($"{CurrentFile}: checkpoint row {_rowOffset} is beyond row group {_rowGroup} ({_rowGroupRows} rows); the file changed since the checkpoint");
                foreach (var c in _columns) await c.LoadAsync(rg, _rowGroupRows, ct).ConfigureAwait(false);
                foreach (var c in _columns) c.SkipTo((int)_rowOffset);
                _loaded = true;
            }
            if (_rowOffset >= _rowGroupRows)
            {
                await NextRowGroupAsync().ConfigureAwait(false);
                continue;
            }
            var from = (int)_rowOffset;
            var n = Math.Min(_batchSize, _rowGroupRows - from);
            for (var r = from; r < from + n; r++) AppendRow(r);
            _rowOffset += n;
            var batch = _builder.Build();
            if (_rowOffset >= _rowGroupRows) await NextRowGroupAsync().ConfigureAwait(false);
            return batch;
        }
    }

    private string CurrentFile => _source.Files[_fileIndex];

    private void AppendRow(int r)
    {
        var row = _builder.Length;
        for (var j = 0; j < _columns.Length; j++)
        {
            if (_columns[j].Append(r, _builder[j])) continue;
            _builder.Truncate(row);
            for (var k = j + 1; k < _columns.Length; k++) _columns[k].Skip(r);
            _context.DeadLetters.Write(new DeadLetter
            {
                Source = _source.Name,
                Position = [new("file", CurrentFile), new("row_group", (long)_rowGroup), new("row", (long)r)],
                ErrorClass = "schema",
                Error = $"required column {_columns[j].Column.Name} is null",
                Raw = ReadOnlyMemory<byte>.Empty,
            });
            return;
        }
    }

    private async ValueTask OpenFileAsync(CancellationToken ct)
    {
        _reader = await ParquetReader.CreateAsync(CurrentFile, null, ct).ConfigureAwait(false);
        var problems = ParquetFileSource.CheckColumns(_reader.Schema, _source.Options.Columns, out var plan);
        if (problems.Count > 0)
            throw new ConnectorConfigException($"parquet source '{_source.Name}'", [.. problems.Select(p => $"{CurrentFile}: {p}")]);
        for (var j = 0; j < _columns.Length; j++) _columns[j].Bind(plan[j].Field, plan[j].Physical);
        _loaded = false;
    }

    private async ValueTask NextRowGroupAsync()
    {
        _rowGroup++;
        _rowOffset = 0;
        _loaded = false;
        if (_rowGroup >= _reader!.RowGroupCount) await NextFileAsync().ConfigureAwait(false);
    }

    private async ValueTask NextFileAsync()
    {
        if (_reader != null) await _reader.DisposeAsync().ConfigureAwait(false);
        _reader = null;
        _loaded = false;
        _fileIndex += _stride;
        _rowGroup = 0;
        _rowOffset = 0;
    }

    public async ValueTask DisposeAsync()
    {
        if (_reader != null) await _reader.DisposeAsync().ConfigureAwait(false);
        _reader = null;
        foreach (var c in _columns) c.Dispose();
        _builder.Dispose();
    }
}

/// <summary>
/// One declared column of the current row group: the whole column chunk read with Parquet.Net's raw API (dense
/// non-null values + definition levels, into pooled arrays), widened to the engine's representation, then handed
/// out row by row into the batch builder.
/// </summary>
internal sealed class ParquetColumnLoader : IDisposable
{
    private static readonly long EpochTicks = DateTime.UnixEpoch.Ticks;

    private DataField? _field;
    private ParquetPhysical _physical;
    private int[]? _defs;
    private int _maxDef;
    private long[]? _i64;
    private int[]? _i32;
    private double[]? _f64;
    private bool[]? _bool;
    private ReadOnlyMemory<char>[]? _str;
    private int _dense;

    public ParquetColumnLoader(FileColumn column) => Column = column;

    public FileColumn Column { get; }

    public void Bind(DataField? field, ParquetPhysical physical)
    {
        _field = field;
        _physical = physical;
        _maxDef = field?.MaxDefinitionLevel ?? 0;
    }

    public async ValueTask LoadAsync(ParquetRowGroupReader rg, int rows, CancellationToken ct)
    {
        _dense = 0;
        if (_field == null || rows == 0) return;
        if (_maxDef > 0) Ensure(ref _defs, rows);
        var defs = _maxDef > 0 ? _defs.AsMemory(0, rows) : (Memory<int>?)null;
        switch (Column.Kind)
        {
            case ColumnKind.Bool:
                Ensure(ref _bool, rows);
                await rg.ReadRawAsync<bool>(_field, _bool.AsMemory(0, rows), defs, null, ct).ConfigureAwait(false);
                break;
            case ColumnKind.Int32:
                Ensure(ref _i32, rows);
                switch (_physical)
                {
                    case ParquetPhysical.Int32: await rg.ReadRawAsync<int>(_field, _i32.AsMemory(0, rows), defs, null, ct).ConfigureAwait(false); break;
                    case ParquetPhysical.Int16: await WidenAsync<short, int>(rg, _field, _i32!, rows, defs, ct).ConfigureAwait(false); break;
                    case ParquetPhysical.UInt16: await WidenAsync<ushort, int>(rg, _field, _i32!, rows, defs, ct).ConfigureAwait(false); break;
                    case ParquetPhysical.SByte: await WidenAsync<sbyte, int>(rg, _field, _i32!, rows, defs, ct).ConfigureAwait(false); break;
                    case ParquetPhysical.Byte: await WidenAsync<byte, int>(rg, _field, _i32!, rows, defs, ct).ConfigureAwait(false); break;
                }
                break;
            case ColumnKind.Int64:
                Ensure(ref _i64, rows);
                switch (_physical)
                {
                    case ParquetPhysical.Int64: await rg.ReadRawAsync<long>(_field, _i64.AsMemory(0, rows), defs, null, ct).ConfigureAwait(false); break;
                    case ParquetPhysical.Int32: await WidenAsync<int, long>(rg, _field, _i64!, rows, defs, ct).ConfigureAwait(false); break;
                    case ParquetPhysical.UInt32: await WidenAsync<uint, long>(rg, _field, _i64!, rows, defs, ct).ConfigureAwait(false); break;
                    case ParquetPhysical.Int16: await WidenAsync<short, long>(rg, _field, _i64!, rows, defs, ct).ConfigureAwait(false); break;
                    case ParquetPhysical.UInt16: await WidenAsync<ushort, long>(rg, _field, _i64!, rows, defs, ct).ConfigureAwait(false); break;
                    case ParquetPhysical.SByte: await WidenAsync<sbyte, long>(rg, _field, _i64!, rows, defs, ct).ConfigureAwait(false); break;
                    case ParquetPhysical.Byte: await WidenAsync<byte, long>(rg, _field, _i64!, rows, defs, ct).ConfigureAwait(false); break;
                }
                break;
            case ColumnKind.Float64:
                Ensure(ref _f64, rows);
                if (_physical == ParquetPhysical.Double) await rg.ReadRawAsync<double>(_field, _f64.AsMemory(0, rows), defs, null, ct).ConfigureAwait(false);
                else await WidenAsync<float, double>(rg, _field, _f64!, rows, defs, ct).ConfigureAwait(false);
                break;
            case ColumnKind.String:
                if (_str != null) System.Array.Clear(_str);
                Ensure(ref _str, rows);
                await rg.ReadRawAsync<ReadOnlyMemory<char>>(_field, _str.AsMemory(0, rows), defs, null, ct).ConfigureAwait(false);
                break;
            case ColumnKind.Timestamp:
                Ensure(ref _i64, rows);
                await ConvertTimeAsync(rg, _field, rows, defs, TimeSpan.TicksPerMicrosecond, ct).ConfigureAwait(false);
                break;
            case ColumnKind.Date:
                Ensure(ref _i32, rows);
                if (_physical == ParquetPhysical.DateOnly)
                {
                    var tmp = ArrayPool<DateOnly>.Shared.Rent(rows);
                    try
                    {
                        await rg.ReadRawAsync<DateOnly>(_field, tmp.AsMemory(0, rows), defs, null, ct).ConfigureAwait(false);
                        var epoch = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;
                        for (var i = 0; i < rows; i++) _i32![i] = tmp[i].DayNumber - epoch;
                    }
                    finally
                    {
                        ArrayPool<DateOnly>.Shared.Return(tmp);
                    }
                }
                else
                {
                    Ensure(ref _i64, rows);
                    await ConvertTimeAsync(rg, _field, rows, defs, TimeSpan.TicksPerDay, ct).ConfigureAwait(false);
                    for (var i = 0; i < rows; i++) _i32![i] = (int)_i64![i];
                }
                break;
        }
    }

    private async ValueTask ConvertTimeAsync(ParquetRowGroupReader rg, DataField field, int rows, Memory<int>? defs, long ticksPerUnit, CancellationToken ct)
    {
        var tmp = ArrayPool<DateTime>.Shared.Rent(rows);
        try
        {
            await rg.ReadRawAsync<DateTime>(field, tmp.AsMemory(0, rows), defs, null, ct).ConfigureAwait(false);
            for (var i = 0; i < rows; i++) _i64![i] = Math.DivRem(tmp[i].Ticks - EpochTicks, ticksPerUnit, out var rem) - (rem < 0 ? 1 : 0);
        }
        finally
        {
            ArrayPool<DateTime>.Shared.Return(tmp);
        }
    }

    private static async ValueTask WidenAsync<TFrom, TTo>(ParquetRowGroupReader rg, DataField field, TTo[] dst, int rows, Memory<int>? defs, CancellationToken ct)
        where TFrom : struct, INumberBase<TFrom>
        where TTo : struct, INumberBase<TTo>
    {
        var tmp = ArrayPool<TFrom>.Shared.Rent(rows);
        try
        {
            await rg.ReadRawAsync<TFrom>(field, tmp.AsMemory(0, rows), defs, null, ct).ConfigureAwait(false);
            for (var i = 0; i < rows; i++) dst[i] = TTo.CreateTruncating(tmp[i]);
        }
        finally
        {
            ArrayPool<TFrom>.Shared.Return(tmp);
        }
    }

    private static void Ensure<T>(ref T[]? array, int rows)
    {
        if (array != null && array.Length >= rows) return;
        if (array != null) ArrayPool<T>.Shared.Return(array, clearArray: RuntimeHelpersIsReference<T>());
        array = ArrayPool<T>.Shared.Rent(rows);
    }

    private static bool RuntimeHelpersIsReference<T>() => System.Runtime.CompilerServices.RuntimeHelpers.IsReferenceOrContainsReferences<T>();

    /// <summary>Positions the dense-value cursor at row <paramref name="row"/> (after a restore mid row group).</summary>
    public void SkipTo(int row)
    {
        if (_field == null) return;
        _dense = _maxDef == 0 ? row : _defs.AsSpan(0, row).Count(_maxDef);
    }

    /// <summary>Moves past row <paramref name="r"/> without appending it.</summary>
    public void Skip(int r)
    {
        if (_field != null && (_maxDef == 0 || _defs![r] == _maxDef)) _dense++;
    }

    /// <summary>Appends row <paramref name="r"/>; false when it is NULL in a required column (nothing appended).</summary>
    public bool Append(int r, ColumnBuilder b)
    {
        if (_field == null || (_maxDef > 0 && _defs![r] != _maxDef))
        {
            if (Column.Required) return false;
            b.AppendNull();
            return true;
        }
        var i = _dense++;
        switch (Column.Kind)
        {
            case ColumnKind.Bool: b.AppendBool(_bool![i]); break;
            case ColumnKind.Int32 or ColumnKind.Date: b.AppendInt32(_i32![i]); break;
            case ColumnKind.Int64 or ColumnKind.Timestamp: b.AppendInt64(_i64![i]); break;
            case ColumnKind.Float64: b.AppendDouble(_f64![i]); break;
            case ColumnKind.String:
                var chars = _str![i].Span;
                var dst = b.ReserveUtf8(Encoding.UTF8.GetMaxByteCount(chars.Length));
                b.CommitUtf8(Encoding.UTF8.GetBytes(chars, dst));
                break;
        }
        return true;
    }

    public void Dispose()
    {
        Return(ref _defs);
        Return(ref _i64);
        Return(ref _i32);
        Return(ref _f64);
        Return(ref _bool);
        Return(ref _str);
    }

    private static void Return<T>(ref T[]? array)
    {
        if (array != null) ArrayPool<T>.Shared.Return(array, clearArray: RuntimeHelpersIsReference<T>());
        array = null;
    }
}
