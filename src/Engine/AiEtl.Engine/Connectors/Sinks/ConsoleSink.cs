using System.Buffers.Text;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors.Files;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Connectors.Sinks;

public enum ConsoleFormat
{
    /// <summary>An aligned text table (cells cut at 40 characters); when a batch needs wider columns, a new header block starts.</summary>
    Table,
    /// <summary>JSON lines, exactly as <see cref="JsonLinesFileSink"/> writes them.</summary>
    JsonLines,
}

/// <summary>Options of <see cref="ConsoleSink"/>.</summary>
public sealed record ConsoleSinkOptions
{
    public ConsoleFormat Format { get; init; } = ConsoleFormat.Table;

    /// <summary>Rows to print before going quiet (0 = no limit); the rest are counted and reported at the end.</summary>
    public long MaxRows { get; init; } = 100;

    public string Name { get; init; } = "console";
}

/// <summary>
/// Prints rows to standard output (or a given stream) for previews and debugging. One writer; not
/// transactional (rows replayed after a restore are printed again).
/// </summary>
public sealed class ConsoleSink : ISink
{
    private readonly Stream? _output;

    /// <param name="options">Format and row limit.</param>
    /// <param name="output">Where to write; standard output when null. Not disposed by the sink.</param>
    public ConsoleSink(ConsoleSinkOptions options, Stream? output = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        if (options.MaxRows < 0) problems.Add($"max_rows must not be negative (got {options.MaxRows})");
        if (!Enum.IsDefined(options.Format)) problems.Add($"unknown format {options.Format}");
        ConnectorConfigException.ThrowIfAny("console sink", problems);
        Options = options;
        _output = output;
    }

    public ConsoleSinkOptions Options { get; }
    public string Name => Options.Name;
    public int MaxParallelism => 1;
    public IReadOnlyList<string> Validate(Schema input) => ArrowColumnCursor.ValidateSchema(input);

    public ISinkWriter CreateWriter(Schema input, ConnectorContext context) =>
        new ConsoleSinkWriter(input, Options, _output ?? Console.OpenStandardOutput(), ownsStream: _output == null);
}

internal sealed class ConsoleSinkWriter : ISinkWriter
{
    private const int MaxWidth = 40;

    private readonly Schema _schema;
    private readonly ConsoleSinkOptions _options;
    private readonly Stream _out;
    private readonly bool _ownsStream;
    private readonly ByteBuffer _buffer = new(16 * 1024);
    private readonly ByteBuffer _cells = new(16 * 1024);
    private readonly JsonLinesEncoder? _json;
    private readonly ArrowColumnCursor[] _cursors;
    private int[]? _widths;
    private int[] _cellEnds = [];
    private long _printed;
    private long _omitted;

    public ConsoleSinkWriter(Schema schema, ConsoleSinkOptions options, Stream output, bool ownsStream)
    {
        _schema = schema;
        _options = options;
        _out = output;
        _ownsStream = ownsStream;
        _cursors = ArrowColumnCursor.ForSchema(schema);
        if (options.Format == ConsoleFormat.JsonLines) _json = new JsonLinesEncoder(schema);
    }

    public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => default;

    public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var show = batch.Length;
        if (_options.MaxRows > 0) show = (int)Math.Min(show, Math.Max(0, _options.MaxRows - _printed));
        _omitted += batch.Length - show;
        if (show == 0) return;
        _buffer.Clear();
        if (_json != null) _json.Encode(batch, _buffer, show);
        else WriteTable(batch, show);
        _printed += show;
        await _out.WriteAsync(_buffer.Memory, ct).ConfigureAwait(false);
        await _out.FlushAsync(ct).ConfigureAwait(false);
    }

    private void WriteTable(Batch batch, int rows)
    {
        var cols = _cursors.Length;
        if (_cellEnds.Length < rows * cols) _cellEnds = new int[rows * cols];
        _cells.Clear();
        for (var c = 0; c < cols; c++) _cursors[c].Attach(batch.Column(c));
        try
        {
            for (var r = 0; r < rows; r++)
            {
                for (var c = 0; c < cols; c++)
                {
                    WriteCell(_cells, _cursors[c], r);
                    _cellEnds[r * cols + c] = _cells.Length;
                }
            }
        }
        finally
        {
            for (var c = 0; c < cols; c++) _cursors[c].Release();
        }
        var cells = _cells.Span;
        var first = _widths == null;
        var widths = new int[cols];
        for (var c = 0; c < cols; c++)
            widths[c] = _widths?[c] ?? Math.Min(MaxWidth, Math.Max(1, Width(Encoding.UTF8.GetBytes(_schema.FieldsList[c].Name))));
        var grew = first;
        for (var i = 0; i < rows * cols; i++)
        {
            var start = i == 0 ? 0 : _cellEnds[i - 1];
            var need = Math.Min(MaxWidth, Width(cells[start.._cellEnds[i]]));
            if (need > widths[i % cols])
            {
                widths[i % cols] = need;
                grew = true;
            }
        }
        if (grew)
        {
            // Columns only ever widen; a wider batch closes the block above and starts a new header block.
            if (!first) Border();
            _widths = widths;
            Border();
            for (var c = 0; c < cols; c++) Cell(c, Encoding.UTF8.GetBytes(_schema.FieldsList[c].Name));
            _buffer.Write("|\n"u8);
            Border();
        }
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < cols; c++)
            {
                var i = r * cols + c;
                var start = i == 0 ? 0 : _cellEnds[i - 1];
                Cell(c, cells[start.._cellEnds[i]]);
            }
            _buffer.Write("|\n"u8);
        }
    }

    private void Border()
    {
        foreach (var w in _widths!)
        {
            _buffer.WriteByte((byte)'+');
            _buffer.GetSpan(w + 2)[..(w + 2)].Fill((byte)'-');
            _buffer.Advance(w + 2);
        }
        _buffer.Write("+\n"u8);
    }

    private void Cell(int c, ReadOnlySpan<byte> text)
    {
        var w = _widths![c];
        _buffer.Write("| "u8);
        var width = Width(text);
        if (width > w)
        {
            // Cut at a character boundary, leaving room for the ellipsis.
            var keep = 0;
            var chars = 0;
            while (keep < text.Length && chars < w - 1)
            {
                keep++;
                while (keep < text.Length && (text[keep] & 0xC0) == 0x80) keep++;
                chars++;
            }
            _buffer.Write(text[..keep]);
            _buffer.Write("…"u8);
            width = w;
        }
        else
        {
            _buffer.Write(text);
        }
        var pad = w - width + 1;
        _buffer.GetSpan(pad)[..pad].Fill((byte)' ');
        _buffer.Advance(pad);
    }

    /// <summary>Display width approximated as the number of code points.</summary>
    private static int Width(ReadOnlySpan<byte> utf8)
    {
        var n = 0;
        foreach (var b in utf8)
            if ((b & 0xC0) != 0x80) n++;
        return n;
    }

    private static void WriteCell(ByteBuffer o, ArrowColumnCursor col, int r)
    {
        if (col.IsNull(r))
        {
            o.Write("NULL"u8);
            return;
        }
        int n;
        switch (col.Kind)
        {
            case ColumnKind.Int64:
                Utf8Formatter.TryFormat(col.Int64(r), o.GetSpan(20), out n);
                o.Advance(n);
                break;
            case ColumnKind.Int32:
                Utf8Formatter.TryFormat(col.Int32(r), o.GetSpan(11), out n);
                o.Advance(n);
                break;
            case ColumnKind.Float64:
                o.Advance(TextValues.WriteDouble(o.GetSpan(TextValues.MaxDoubleLength), col.Double(r)));
                break;
            case ColumnKind.Bool:
                o.Write(col.Bool(r) ? "true"u8 : "false"u8);
                break;
            case ColumnKind.String:
                // Control characters are escaped as in JSON so that every row stays on one line.
                var s = col.Utf8(r);
                foreach (var b in s)
                {
                    if (b >= 0x20) o.WriteByte(b);
                    else o.Write(b switch { (byte)'\n' => "\\n"u8, (byte)'\r' => "\\r"u8, (byte)'\t' => "\\t"u8, _ => "?"u8 });
                }
                break;
            case ColumnKind.Timestamp:
                o.Advance(TextValues.WriteTimestamp(o.GetSpan(TextValues.MaxTimestampLength), col.Int64(r)));
                break;
            case ColumnKind.Date:
                o.Advance(TextValues.WriteDate(o.GetSpan(TextValues.MaxTimestampLength), col.Int32(r)));
                break;
        }
    }

    public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) => new((byte[]?)null);

    public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;

    public async ValueTask DisposeAsync()
    {
        _buffer.Clear();
        if (_widths != null) Border();
        if (_omitted > 0) _buffer.Write(Encoding.UTF8.GetBytes($"({_omitted} more rows not shown; max_rows = {_options.MaxRows})\n"));
        if (_buffer.Length > 0)
        {
            await _out.WriteAsync(_buffer.Memory, CancellationToken.None).ConfigureAwait(false);
            await _out.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        if (_ownsStream) await _out.DisposeAsync().ConfigureAwait(false);
        _buffer.Dispose();
        _cells.Dispose();
    }
}
