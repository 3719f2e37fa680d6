using System.Buffers;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>Turns batches into text lines appended to a <see cref="ByteBuffer"/>.</summary>
internal interface ITextEncoder
{
    /// <summary>File name extension including the dot (e.g. <c>.jsonl</c>).</summary>
    string Extension { get; }

    /// <summary>Written once at the start of each new file (e.g. the CSV header); may write nothing.</summary>
    void WriteFileHeader(ByteBuffer output);

    /// <summary>Appends the first <paramref name="rows"/> rows of <paramref name="batch"/> (all when negative).</summary>
    void Encode(Batch batch, ByteBuffer output, int rows = -1);
}

/// <summary>
/// JSON lines: one object per row, keys in column order. Integers are exact; floats use the shortest
/// round-trip form, and NaN/±Infinity (which JSON numbers cannot hold) are written as the strings
/// <c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>; timestamps <c>"YYYY-MM-DDTHH:MM:SS.ffffffZ"</c>;
/// dates <c>"YYYY-MM-DD"</c>; NULL as <c>null</c>; strings escape <c>"</c>, <c>\</c> and control characters
/// and keep other UTF-8 as is.
/// </summary>
internal sealed class JsonLinesEncoder : ITextEncoder
{
    private static readonly SearchValues<byte> NeedsEscape = SearchValues.Create(
        [.. Enumerable.Range(0, 0x20).Select(b => (byte)b), (byte)'"', (byte)'\\']);

    private readonly ArrowColumnCursor[] _columns;
    private readonly byte[][] _keys;

    public JsonLinesEncoder(Schema schema)
    {
        _columns = ArrowColumnCursor.ForSchema(schema);
        _keys = new byte[_columns.Length][];
        using var tmp = new ByteBuffer(256);
        for (var c = 0; c < _columns.Length; c++)
        {
            tmp.Clear();
            tmp.WriteByte(c == 0 ? (byte)'{' : (byte)',');
            WriteString(tmp, Encoding.UTF8.GetBytes(schema.FieldsList[c].Name));
            tmp.WriteByte((byte)':');
            _keys[c] = tmp.Span.ToArray();
        }
    }

    public string Extension => ".jsonl";

    public void WriteFileHeader(ByteBuffer output)
    {
    }

    public void Encode(Batch batch, ByteBuffer output, int rows = -1)
    {
        var cols = _columns;
        for (var c = 0; c < cols.Length; c++) cols[c].Attach(batch.Column(c));
        try
        {
            if (rows < 0 || rows > batch.Length) rows = batch.Length;
            for (var r = 0; r < rows; r++)
            {
                if (cols.Length == 0) output.WriteByte((byte)'{');
                for (var c = 0; c < cols.Length; c++)
                {
                    output.Write(_keys[c]);
                    WriteValue(output, cols[c], r);
                }
                output.Write("}\n"u8);
            }
        }
        finally
        {
            for (var c = 0; c < cols.Length; c++) cols[c].Release();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteValue(ByteBuffer o, ArrowColumnCursor col, int r)
    {
        if (col.IsNull(r))
        {
            o.Write("null"u8);
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
                var v = col.Double(r);
                if (double.IsFinite(v))
                {
                    o.Advance(TextValues.WriteDouble(o.GetSpan(TextValues.MaxDoubleLength), v));
                }
                else
                {
                    o.Write(double.IsNaN(v) ? "\"NaN\""u8 : v > 0 ? "\"Infinity\""u8 : "\"-Infinity\""u8);
                }
                break;
            case ColumnKind.Bool:
                o.Write(col.Bool(r) ? "true"u8 : "false"u8);
                break;
            case ColumnKind.String:
                WriteString(o, col.Utf8(r));
                break;
            case ColumnKind.Timestamp:
                var span = o.GetSpan(TextValues.MaxTimestampLength + 2);
                span[0] = (byte)'"';
                n = TextValues.WriteTimestamp(span[1..], col.Int64(r));
                span[n + 1] = (byte)'"';
                o.Advance(n + 2);
                break;
            case ColumnKind.Date:
                span = o.GetSpan(TextValues.MaxTimestampLength + 2);
                span[0] = (byte)'"';
                n = TextValues.WriteDate(span[1..], col.Int32(r));
                span[n + 1] = (byte)'"';
                o.Advance(n + 2);
                break;
        }
    }

    /// <summary>Writes a JSON string literal of valid UTF-8 <paramref name="s"/>.</summary>
    public static void WriteString(ByteBuffer o, ReadOnlySpan<byte> s)
    {
        o.WriteByte((byte)'"');
        while (true)
        {
            var i = s.IndexOfAny(NeedsEscape);
            if (i < 0)
            {
                o.Write(s);
                break;
            }
            o.Write(s[..i]);
            var b = s[i];
            switch (b)
            {
                case (byte)'"': o.Write("\\\""u8); break;
                case (byte)'\\': o.Write("\\\\"u8); break;
                case (byte)'\n': o.Write("\\n"u8); break;
                case (byte)'\r': o.Write("\\r"u8); break;
                case (byte)'\t': o.Write("\\t"u8); break;
                case (byte)'\b': o.Write("\\b"u8); break;
                case (byte)'\f': o.Write("\\f"u8); break;
                default:
                    var d = o.GetSpan(6);
                    "\\u00"u8.CopyTo(d);
                    d[4] = Hex[b >> 4];
                    d[5] = Hex[b & 15];
                    o.Advance(6);
                    break;
            }
            s = s[(i + 1)..];
        }
        o.WriteByte((byte)'"');
    }

    private static ReadOnlySpan<byte> Hex => "0123456789abcdef"u8;
}

/// <summary>
/// RFC 4180 CSV: optional header row, CRLF-free (<c>\n</c>) line ends. NULL is an empty unquoted field and an
/// empty string is <c>""</c> (so the CSV source reads both back exactly); fields holding the delimiter, a quote,
/// CR or LF are quoted with quotes doubled. Values are formatted as in JSON lines, unquoted
/// (NaN/±Infinity as the bare words <c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>).
/// </summary>
internal sealed class CsvEncoder : ITextEncoder
{
    private readonly ArrowColumnCursor[] _columns;
    private readonly byte _delimiter;
    private readonly SearchValues<byte> _needsQuotes;
    private readonly byte[]? _header;

    public CsvEncoder(Schema schema, byte delimiter, bool header)
    {
        _columns = ArrowColumnCursor.ForSchema(schema);
        _delimiter = delimiter;
        _needsQuotes = SearchValues.Create([delimiter, (byte)'"', (byte)'\r', (byte)'\n']);
        if (header)
        {
            using var tmp = new ByteBuffer(256);
            for (var c = 0; c < _columns.Length; c++)
            {
                if (c > 0) tmp.WriteByte(delimiter);
                WriteText(tmp, Encoding.UTF8.GetBytes(schema.FieldsList[c].Name));
            }
            tmp.WriteByte((byte)'\n');
            _header = tmp.Span.ToArray();
        }
    }

    public string Extension => ".csv";

    public void WriteFileHeader(ByteBuffer output)
    {
        if (_header != null) output.Write(_header);
    }

    public void Encode(Batch batch, ByteBuffer output, int rows = -1)
    {
        var cols = _columns;
        for (var c = 0; c < cols.Length; c++) cols[c].Attach(batch.Column(c));
        try
        {
            if (rows < 0 || rows > batch.Length) rows = batch.Length;
            for (var r = 0; r < rows; r++)
            {
                for (var c = 0; c < cols.Length; c++)
                {
                    if (c > 0) output.WriteByte(_delimiter);
                    WriteValue(output, cols[c], r);
                }
                output.WriteByte((byte)'\n');
            }
        }
        finally
        {
            for (var c = 0; c < cols.Length; c++) cols[c].Release();
        }
    }

    private void WriteValue(ByteBuffer o, ArrowColumnCursor col, int r)
    {
        if (col.IsNull(r)) return;
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
                WriteText(o, col.Utf8(r));
                break;
            case ColumnKind.Timestamp:
                o.Advance(TextValues.WriteTimestamp(o.GetSpan(TextValues.MaxTimestampLength), col.Int64(r)));
                break;
            case ColumnKind.Date:
                o.Advance(TextValues.WriteDate(o.GetSpan(TextValues.MaxTimestampLength), col.Int32(r)));
                break;
        }
    }

    private void WriteText(ByteBuffer o, ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty)
        {
            o.Write("\"\""u8);
            return;
        }
        if (!s.ContainsAny(_needsQuotes))
        {
            o.Write(s);
            return;
        }
        o.WriteByte((byte)'"');
        while (true)
        {
            var i = s.IndexOf((byte)'"');
            if (i < 0)
            {
                o.Write(s);
                break;
            }
            o.Write(s[..(i + 1)]);
            o.WriteByte((byte)'"');
            s = s[(i + 1)..];
        }
        o.WriteByte((byte)'"');
    }
}
