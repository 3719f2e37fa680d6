using System.Buffers.Binary;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;
using AiEtl.Engine.Columns;
using AvroSchema = Avro.Schema;

namespace AiEtl.Engine.Kafka.Avro;

/// <summary>Where an Avro decoder gets writer schemas by id (the schema registry, or a fixed set in tests).</summary>
public interface IAvroSchemaProvider
{
    /// <summary>
    /// The Avro schema text registered under <paramref name="id"/>, or false with the reason when there is none
    /// (an unknown id, a schema that is not Avro). Failures that may pass (the registry unreachable) throw.
    /// </summary>
    bool TryGetWriterSchema(int id, out string schema, out string problem);
}

/// <summary>Why an Avro message did not decode.</summary>
public enum AvroErrorKind : byte
{
    None,
    /// <summary>Not the Confluent wire format (wrong magic byte, shorter than its header).</summary>
    Framing,
    /// <summary>The schema id is unknown to the registry, or its schema cannot be read into the columns.</summary>
    Schema,
    /// <summary>The body ended early, a varint was malformed, a length was negative, bytes were left after the record.</summary>
    Malformed,
    /// <summary>A string that is not UTF-8.</summary>
    Encoding,
    /// <summary>The writer's value has a type the column cannot take (per Avro's resolution rules).</summary>
    TypeMismatch,
    /// <summary>A required column is null or missing from the writer schema.</summary>
    MissingRequired,
    /// <summary>A value outside the column's range (an int beyond 32 bits, a timestamp beyond int64 microseconds).</summary>
    OutOfRange,
}

/// <summary>
/// Decodes Kafka values in Confluent's Avro wire format (magic byte 0, 4-byte big-endian schema id, Avro binary body)
/// straight into the column builders of a <see cref="BatchBuilder"/>: no record object per message. Each writer schema
/// id is fetched once from the <see cref="IAvroSchemaProvider"/> and compiled against the reader columns into a small
/// program (Avro schema resolution by field name: extra writer fields are skipped, a column missing from the writer
/// takes its default or NULL, promotions int→long→double and float→double). Either one row is appended or nothing is
/// and <see cref="Error"/> says why. Not thread-safe: one per reader.
/// </summary>
public sealed class AvroRowDecoder
{
    /// <summary>Bytes of the Confluent header: magic byte + schema id.</summary>
    public const int HeaderBytes = 5;

    /// <summary>Deepest nesting of skipped records, arrays and maps (recursive writer types; never a stack overflow).</summary>
    public const int MaxDepth = 64;

    private int _depth;

    private readonly AvroReaderSchema _reader;
    private readonly IAvroSchemaProvider _provider;
    private readonly ColumnKind[] _kinds;
    private readonly bool[] _required;
    private readonly string[] _names;
    private readonly Dictionary<int, Program> _programs = [];
    private int _lastId = -1;
    private Program? _last;
    private ColumnBuilder[] _builders = [];
    private BatchBuilder? _target;

    // The error of the current message.
    private AvroErrorKind _errKind;
    private string _errDetail = "";
    private string? _errField;
    private int _errOffset;
    private int _errSchemaId;

    public AvroRowDecoder(AvroReaderSchema reader, IAvroSchemaProvider provider)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(provider);
        _reader = reader;
        _provider = provider;
        var fields = reader.Arrow.FieldsList;
        _kinds = fields.Select(f => ColumnTypes.FromArrow(f.DataType)).ToArray();
        _required = fields.Select(f => !f.IsNullable).ToArray();
        _names = fields.Select(f => f.Name).ToArray();
    }

    /// <summary>The last failure (valid after <see cref="TryDecode"/> returned false).</summary>
    public AvroDecodeError Error => new(_errKind, _errOffset, _errField, _errDetail, _errSchemaId);

    /// <summary>Writer schemas compiled so far (one per schema id seen).</summary>
    public int SchemaCount => _programs.Count;

    /// <summary>Decodes one message and appends exactly one row to <paramref name="into"/>, or nothing (see <see cref="Error"/>).</summary>
    public bool TryDecode(ReadOnlySpan<byte> message, BatchBuilder into)
    {
        ArgumentNullException.ThrowIfNull(into);
        if (!ReferenceEquals(into, _target)) Attach(into);
        _errField = null;
        _errSchemaId = -1;
        if (message.Length < HeaderBytes)
            return Fail(AvroErrorKind.Framing, 0, $"a message of {message.Length} bytes is shorter than the {HeaderBytes}-byte Confluent Avro header");
        if (message[0] != 0)
            return Fail(AvroErrorKind.Framing, 0, $"magic byte {message[0]} is not 0: not a Confluent schema-registry Avro message");
        var id = BinaryPrimitives.ReadInt32BigEndian(message[1..]);
        _errSchemaId = id;
        var program = id == _lastId ? _last! : Lookup(id);
        if (program.Error is { } problem) return Fail(AvroErrorKind.Schema, 1, problem);
        var rows = into.Length;
        var body = message[HeaderBytes..];
        var p = 0;
        _depth = 0;
        var ok = Run(program.Ops, body, ref p);
        if (ok && p == body.Length)
        {
            if (_builders.Length == 0) into.AppendEmptyRow();
            return true;
        }
        if (ok)
        {
            _errField = null;
            Fail(AvroErrorKind.Malformed, p, $"{body.Length - p} bytes left after the record: the body does not match writer schema {id}");
        }
        _errOffset += HeaderBytes;
        into.Truncate(rows);
        return false;
    }

    private void Attach(BatchBuilder into)
    {
        if (into.ColumnCount != _kinds.Length)
            throw new ArgumentException($"builder has {into.ColumnCount} columns, the decoder's schema {_kinds.Length}", nameof(into));
        var builders = new ColumnBuilder[into.ColumnCount];
        for (var i = 0; i < builders.Length; i++)
        {
            builders[i] = into[i];
            if (builders[i].Kind != _kinds[i])
                throw new ArgumentException($"builder column {i} is {builders[i].Kind}, the decoder's schema says {_kinds[i]}", nameof(into));
        }
        _builders = builders;
        _target = into;
    }

    private bool Fail(AvroErrorKind kind, int offset, string detail)
    {
        _errKind = kind;
        _errOffset = offset;
        _errDetail = detail;
        return false;
    }

    private Program Lookup(int id)
    {
        if (!_programs.TryGetValue(id, out var program))
        {
            program = _provider.TryGetWriterSchema(id, out var text, out var problem)
                ? Compile(id, text)
                : new Program([], $"schema id {id}: {problem}");
            _programs[id] = program;
        }
        _lastId = id;
        _last = program;
        return program;
    }

    // ---- compilation: writer schema × reader columns → ops ----

    private enum OpKind : byte
    {
        IntToInt32, IntToInt64, IntToFloat64, IntToDate, LongToInt64, LongToFloat64, MillisToTimestamp, MicrosToTimestamp,
        FloatToFloat64, DoubleToFloat64, BoolToBool, StringToString, BytesToBase64, FixedToBase64, EnumToString, NullToColumn,
        Union,
        SkipNull, SkipBool, SkipVarint, SkipFloat, SkipDouble, SkipBytes, SkipFixed, SkipRecord, SkipArray, SkipMap,
        FillNull, FillLong, FillDouble, FillBool, FillUtf8,
        Fail,
    }

    private sealed class Op(OpKind kind, int column = -1)
    {
        public readonly OpKind Kind = kind;
        public readonly int Column = column;
        public int Size;
        public long Long;
        public double Double;
        public byte[]? Bytes;
        public byte[][]? Symbols;
        public Op[]? Children;
        public string? Field;
        public AvroErrorKind FailKind;
        public string? FailDetail;
    }

    private sealed record Program(Op[] Ops, string? Error);

    private static readonly Op SkipKey = new(OpKind.SkipBytes);

    private Program Compile(int id, string text)
    {
        AvroSchema writer;
        try
        {
            writer = AvroSchema.Parse(text);
        }
        catch (Exception e) when (e is global::Avro.AvroException or Newtonsoft.Json.JsonException or ArgumentException)
        {
            return new Program([], $"schema id {id} is not valid Avro: {e.Message}");
        }
        if (writer is not global::Avro.RecordSchema record)
            return new Program([], $"schema id {id} is {AvroReaderSchema.Describe(writer)}, not a record: each message must decode to one row of fields");
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var c = 0; c < _names.Length; c++) byName[_names[c]] = c;
        var ops = new List<Op>();
        var covered = new bool[_names.Length];
        var skipOps = new Dictionary<string, Op>(StringComparer.Ordinal);
        foreach (var f in record.Fields)
        {
            Op op;
            if (byName.TryGetValue(f.Name, out var c))
            {
                covered[c] = true;
                op = Read(f.Schema, c, id);
            }
            else
            {
                op = Skip(f.Schema, skipOps);
            }
            op.Field = f.Name;
            ops.Add(op);
        }
        for (var c = 0; c < _names.Length; c++)
        {
            if (covered[c]) continue;
            Op fill;
            if (_reader.HasDefault[c])
            {
                var d = _reader.Defaults[c];
                fill = d switch
                {
                    null => new Op(OpKind.FillNull, c),
                    long l => new Op(OpKind.FillLong, c) { Long = l },
                    double x => new Op(OpKind.FillDouble, c) { Double = x },
                    bool b => new Op(OpKind.FillBool, c) { Long = b ? 1 : 0 },
                    _ => new Op(OpKind.FillUtf8, c) { Bytes = AvroReaderSchema.Utf8Default(d) },
                };
            }
            else if (!_required[c])
            {
                fill = new Op(OpKind.FillNull, c);
            }
            else
            {
                fill = new Op(OpKind.Fail, c)
                {
                    FailKind = AvroErrorKind.MissingRequired,
                    FailDetail = $"writer schema {id} has no field '{_names[c]}' and the column is required (no default)",
                };
            }
            fill.Field = _names[c];
            if (fill.Kind == OpKind.FillNull && _required[c])
                fill = new Op(OpKind.Fail, c) { FailKind = AvroErrorKind.MissingRequired, FailDetail = "the required column's default is null", Field = _names[c] };
            ops.Add(fill);
        }
        return new Program([.. ops], null);
    }

    /// <summary>An op that reads a value of writer type <paramref name="w"/> into column <paramref name="c"/>.</summary>
    private Op Read(AvroSchema w, int c, int id)
    {
        var kind = _kinds[c];
        if (w is global::Avro.UnionSchema u)
            return new Op(OpKind.Union, c) { Children = u.Schemas.Select(b => Read(b, c, id)).ToArray() };
        var logical = (w as global::Avro.LogicalSchema)?.LogicalTypeName;
        var baseType = w is global::Avro.LogicalSchema l ? l.BaseSchema : w;
        OpKind? op = (baseType.Tag, kind, logical) switch
        {
            (AvroSchema.Type.Null, _, _) => OpKind.NullToColumn,
            (_, _, "decimal") => null,
            (AvroSchema.Type.Boolean, ColumnKind.Bool, _) => OpKind.BoolToBool,
            (AvroSchema.Type.Int, ColumnKind.Date, "date") => OpKind.IntToDate,
            (AvroSchema.Type.Int, ColumnKind.Int32, _) => OpKind.IntToInt32,
            (AvroSchema.Type.Int, ColumnKind.Int64, _) => OpKind.IntToInt64,
            (AvroSchema.Type.Int, ColumnKind.Float64, _) => OpKind.IntToFloat64,
            (AvroSchema.Type.Long, ColumnKind.Timestamp, "timestamp-millis") => OpKind.MillisToTimestamp,
            (AvroSchema.Type.Long, ColumnKind.Timestamp, "timestamp-micros") => OpKind.MicrosToTimestamp,
            (AvroSchema.Type.Long, ColumnKind.Int64, _) => OpKind.LongToInt64,
            (AvroSchema.Type.Long, ColumnKind.Float64, _) => OpKind.LongToFloat64,
            (AvroSchema.Type.Float, ColumnKind.Float64, _) => OpKind.FloatToFloat64,
            (AvroSchema.Type.Double, ColumnKind.Float64, _) => OpKind.DoubleToFloat64,
            (AvroSchema.Type.String, ColumnKind.String, _) => OpKind.StringToString,
            (AvroSchema.Type.Bytes, ColumnKind.String, _) => OpKind.BytesToBase64,
            (AvroSchema.Type.Fixed, ColumnKind.String, _) => OpKind.FixedToBase64,
            (AvroSchema.Type.Enumeration, ColumnKind.String, _) => OpKind.EnumToString,
            _ => null,
        };
        if (op is { } k)
        {
            var r = new Op(k, c);
            if (baseType is global::Avro.FixedSchema fx) r.Size = fx.Size;
            if (baseType is global::Avro.EnumSchema en) r.Symbols = en.Symbols.Select(Encoding.UTF8.GetBytes).ToArray();
            return r;
        }
        // Not readable into this column: the value is skipped and the message fails with a type mismatch.
        return new Op(OpKind.Fail, c)
        {
            FailKind = AvroErrorKind.TypeMismatch,
            FailDetail = $"writer schema {id} gives {AvroReaderSchema.Describe(w)}, which a {ColumnTypes.Name(kind)} column cannot take",
        };
    }

    /// <summary>
    /// An op that skips a value of writer type <paramref name="w"/>. Named records are compiled once (<paramref name="records"/>),
    /// so a recursive type (a linked list) becomes a cycle of ops rather than endless compilation.
    /// </summary>
    private static Op Skip(AvroSchema w, Dictionary<string, Op> records)
    {
        if (w is global::Avro.LogicalSchema l) w = l.BaseSchema;
        if (w is global::Avro.RecordSchema r)
        {
            if (records.TryGetValue(r.Fullname, out var known)) return known;
            var op = new Op(OpKind.SkipRecord);
            records[r.Fullname] = op;
            op.Children = r.Fields.Select(f => Skip(f.Schema, records)).ToArray();
            return op;
        }
        return w switch
        {
            global::Avro.UnionSchema u => new Op(OpKind.Union) { Children = u.Schemas.Select(b => Skip(b, records)).ToArray() },
            global::Avro.ArraySchema a => new Op(OpKind.SkipArray) { Children = [Skip(a.ItemSchema, records)] },
            global::Avro.MapSchema m => new Op(OpKind.SkipMap) { Children = [Skip(m.ValueSchema, records)] },
            global::Avro.FixedSchema f => new Op(OpKind.SkipFixed) { Size = f.Size },
            global::Avro.EnumSchema => new Op(OpKind.SkipVarint),
            _ => w.Tag switch
            {
                AvroSchema.Type.Null => new Op(OpKind.SkipNull),
                AvroSchema.Type.Boolean => new Op(OpKind.SkipBool),
                AvroSchema.Type.Int or AvroSchema.Type.Long => new Op(OpKind.SkipVarint),
                AvroSchema.Type.Float => new Op(OpKind.SkipFloat),
                AvroSchema.Type.Double => new Op(OpKind.SkipDouble),
                _ => new Op(OpKind.SkipBytes), // string, bytes
            },
        };
    }

    // ---- execution ----

    private bool Run(Op[] ops, ReadOnlySpan<byte> b, ref int p)
    {
        for (var i = 0; i < ops.Length; i++)
        {
            var op = ops[i];
            if (!Exec(op, b, ref p))
            {
                _errField ??= op.Field;
                return false;
            }
        }
        return true;
    }

    private bool Exec(Op op, ReadOnlySpan<byte> b, ref int p)
    {
        long v;
        switch (op.Kind)
        {
            case OpKind.LongToInt64:
                if (!ReadLong(b, ref p, out v)) return false;
                _builders[op.Column].AppendInt64(v);
                return true;
            case OpKind.IntToInt32:
                if (!ReadInt(b, ref p, out v)) return false;
                _builders[op.Column].AppendInt32((int)v);
                return true;
            case OpKind.IntToInt64:
                if (!ReadInt(b, ref p, out v)) return false;
                _builders[op.Column].AppendInt64(v);
                return true;
            case OpKind.IntToFloat64:
                if (!ReadInt(b, ref p, out v)) return false;
                _builders[op.Column].AppendDouble(v);
                return true;
            case OpKind.IntToDate:
                if (!ReadInt(b, ref p, out v)) return false;
                _builders[op.Column].AppendInt32((int)v);
                return true;
            case OpKind.LongToFloat64:
                if (!ReadLong(b, ref p, out v)) return false;
                _builders[op.Column].AppendDouble(v);
                return true;
            case OpKind.MillisToTimestamp:
                if (!ReadLong(b, ref p, out v)) return false;
                if (v is > long.MaxValue / 1000 or < long.MinValue / 1000)
                    return Fail(AvroErrorKind.OutOfRange, p, $"timestamp-millis {v} is beyond the microsecond range of a timestamp column");
                _builders[op.Column].AppendInt64(v * 1000);
                return true;
            case OpKind.MicrosToTimestamp:
                if (!ReadLong(b, ref p, out v)) return false;
                _builders[op.Column].AppendInt64(v);
                return true;
            case OpKind.FloatToFloat64:
                if (b.Length - p < 4) return Truncated(p);
                _builders[op.Column].AppendDouble(BinaryPrimitives.ReadSingleLittleEndian(b[p..]));
                p += 4;
                return true;
            case OpKind.DoubleToFloat64:
                if (b.Length - p < 8) return Truncated(p);
                _builders[op.Column].AppendDouble(BinaryPrimitives.ReadDoubleLittleEndian(b[p..]));
                p += 8;
                return true;
            case OpKind.BoolToBool:
                if (p >= b.Length) return Truncated(p);
                if (b[p] > 1) return Fail(AvroErrorKind.Malformed, p, $"boolean byte {b[p]} is neither 0 nor 1");
                _builders[op.Column].AppendBool(b[p++] != 0);
                return true;
            case OpKind.StringToString:
            {
                if (!ReadLength(b, ref p, out var n)) return false;
                var s = b.Slice(p, n);
                if (!Utf8.IsValid(s)) return Fail(AvroErrorKind.Encoding, p, "the string is not valid UTF-8");
                _builders[op.Column].AppendUtf8(s);
                p += n;
                return true;
            }
            case OpKind.BytesToBase64:
            {
                if (!ReadLength(b, ref p, out var n)) return false;
                AppendBase64(_builders[op.Column], b.Slice(p, n));
                p += n;
                return true;
            }
            case OpKind.FixedToBase64:
                if (b.Length - p < op.Size) return Truncated(p);
                AppendBase64(_builders[op.Column], b.Slice(p, op.Size));
                p += op.Size;
                return true;
            case OpKind.EnumToString:
            {
                var at = p;
                if (!ReadInt(b, ref p, out v)) return false;
                var symbols = op.Symbols!;
                if ((ulong)v >= (ulong)symbols.Length) return Fail(AvroErrorKind.Malformed, at, $"enum index {v} is not one of the writer's {symbols.Length} symbols");
                _builders[op.Column].AppendUtf8(symbols[v]);
                return true;
            }
            case OpKind.NullToColumn:
            case OpKind.FillNull:
                if (_required[op.Column]) return Fail(AvroErrorKind.MissingRequired, p, "null for a required column");
                _builders[op.Column].AppendNull();
                return true;
            case OpKind.Union:
            {
                var at = p;
                if (!ReadInt(b, ref p, out v)) return false;
                var children = op.Children!;
                if ((ulong)v >= (ulong)children.Length) return Fail(AvroErrorKind.Malformed, at, $"union branch {v} is not one of the writer's {children.Length} branches");
                return Exec(children[v], b, ref p);
            }
            case OpKind.FillLong:
                if (_kinds[op.Column] is ColumnKind.Int32 or ColumnKind.Date) _builders[op.Column].AppendInt32((int)op.Long);
                else _builders[op.Column].AppendInt64(op.Long);
                return true;
            case OpKind.FillDouble:
                _builders[op.Column].AppendDouble(op.Double);
                return true;
            case OpKind.FillBool:
                _builders[op.Column].AppendBool(op.Long != 0);
                return true;
            case OpKind.FillUtf8:
                _builders[op.Column].AppendUtf8(op.Bytes);
                return true;
            case OpKind.Fail:
                return Fail(op.FailKind, p, op.FailDetail!);
            case OpKind.SkipNull:
                return true;
            case OpKind.SkipBool:
                if (p >= b.Length) return Truncated(p);
                p++;
                return true;
            case OpKind.SkipVarint:
                return ReadLong(b, ref p, out _);
            case OpKind.SkipFloat:
                return Advance(b, ref p, 4);
            case OpKind.SkipDouble:
                return Advance(b, ref p, 8);
            case OpKind.SkipFixed:
                return Advance(b, ref p, op.Size);
            case OpKind.SkipBytes:
            {
                if (!ReadLength(b, ref p, out var n)) return false;
                p += n;
                return true;
            }
            case OpKind.SkipRecord:
            {
                if (++_depth > MaxDepth) return Fail(AvroErrorKind.Malformed, p, $"values nested deeper than {MaxDepth} levels");
                foreach (var child in op.Children!)
                {
                    if (!Exec(child, b, ref p))
                    {
                        _depth--;
                        return false;
                    }
                }
                _depth--;
                return true;
            }
            case OpKind.SkipArray:
            case OpKind.SkipMap:
            {
                if (++_depth > MaxDepth) return Fail(AvroErrorKind.Malformed, p, $"values nested deeper than {MaxDepth} levels");
                var ok = SkipBlocks(op, b, ref p);
                _depth--;
                return ok;
            }
            default:
                throw new InvalidOperationException($"unknown op {op.Kind}");
        }
    }

    /// <summary>Arrays and maps: blocks of (count, items), a negative count followed by the block's byte size, 0 ends.</summary>
    private bool SkipBlocks(Op op, ReadOnlySpan<byte> b, ref int p)
    {
        var item = op.Children![0];
        while (true)
        {
            var at = p;
            if (!ReadLong(b, ref p, out var count)) return false;
            if (count == 0) return true;
            if (count < 0)
            {
                if (!ReadLong(b, ref p, out var size)) return false;
                if (size < 0 || size > b.Length - p) return Fail(AvroErrorKind.Malformed, at, $"block of {size} bytes runs past the end of the message");
                p += (int)size;
                continue;
            }
            if (count > b.Length - p) return Fail(AvroErrorKind.Malformed, at, $"block of {count} items cannot fit in the {b.Length - p} bytes left");
            for (long i = 0; i < count; i++)
            {
                if (op.Kind == OpKind.SkipMap && !Exec(SkipKey, b, ref p)) return false;
                if (!Exec(item, b, ref p)) return false;
            }
        }
    }

    private static void AppendBase64(ColumnBuilder col, ReadOnlySpan<byte> bytes)
    {
        var max = Base64.GetMaxEncodedToUtf8Length(bytes.Length);
        var dest = col.ReserveUtf8(max);
        Base64.EncodeToUtf8(bytes, dest, out _, out var written);
        col.CommitUtf8(written);
    }

    private bool Advance(ReadOnlySpan<byte> b, ref int p, int n)
    {
        if (b.Length - p < n) return Truncated(p);
        p += n;
        return true;
    }

    private bool Truncated(int p) => Fail(AvroErrorKind.Malformed, p, "the message ends inside a value (truncated)");

    /// <summary>A byte length (string, bytes): non-negative and within the message.</summary>
    private bool ReadLength(ReadOnlySpan<byte> b, ref int p, out int n)
    {
        var at = p;
        n = 0;
        if (!ReadLong(b, ref p, out var len)) return false;
        if (len < 0) return Fail(AvroErrorKind.Malformed, at, $"negative length {len}");
        if (len > b.Length - p) return Fail(AvroErrorKind.Malformed, at, $"a length of {len} bytes runs past the end of the message ({b.Length - p} left)");
        n = (int)len;
        return true;
    }

    /// <summary>A zig-zag varint of at most 10 bytes (Avro long).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool ReadLong(ReadOnlySpan<byte> b, ref int p, out long v)
    {
        // Fast path: one byte (small values), the common case.
        if ((uint)p < (uint)b.Length && b[p] < 0x80)
        {
            uint x = b[p++];
            v = (long)(x >> 1) ^ -(long)(x & 1);
            return true;
        }
        return ReadLongSlow(b, ref p, out v);
    }

    private bool ReadLongSlow(ReadOnlySpan<byte> b, ref int p, out long v)
    {
        var at = p;
        ulong r = 0;
        for (var shift = 0; ; shift += 7)
        {
            if ((uint)p >= (uint)b.Length)
            {
                v = 0;
                return Truncated(at);
            }
            var x = b[p++];
            if (shift == 63 && x > 1)
            {
                v = 0;
                return Fail(AvroErrorKind.Malformed, at, "a varint longer than 64 bits");
            }
            r |= (ulong)(x & 0x7F) << shift;
            if (x < 0x80) break;
        }
        v = (long)(r >> 1) ^ -(long)(r & 1);
        return true;
    }

    /// <summary>An Avro int: a zig-zag varint whose value fits 32 bits.</summary>
    private bool ReadInt(ReadOnlySpan<byte> b, ref int p, out long v)
    {
        var at = p;
        if (!ReadLong(b, ref p, out v)) return false;
        if (v is < int.MinValue or > int.MaxValue) return Fail(AvroErrorKind.OutOfRange, at, $"int value {v} does not fit 32 bits");
        return true;
    }
}

/// <summary>An Avro decoding failure: kind, byte offset in the message, field, description and schema id (−1 before the header).</summary>
public readonly record struct AvroDecodeError(AvroErrorKind Kind, int Offset, string? Field, string Detail, int SchemaId)
{
    /// <summary>Dead-letter error class: <c>decode</c>, <c>schema</c>, <c>overflow</c>.</summary>
    public string ErrorClass => Kind switch
    {
        AvroErrorKind.Schema or AvroErrorKind.TypeMismatch or AvroErrorKind.MissingRequired => "schema",
        AvroErrorKind.OutOfRange => "overflow",
        _ => "decode",
    };

    public string Message => Field is null
        ? $"avro: {Detail} at byte {Offset}"
        : $"avro: {Detail} in field '{Field}' at byte {Offset}";

    public override string ToString() => $"{ErrorClass}/{Kind}: {Message}";
}
