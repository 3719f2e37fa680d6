using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Json;

/// <summary>
/// Decodes one JSON message into one row of a fixed schema, appending straight into the column builders
/// of a <see cref="BatchBuilder"/>. A hand-written single pass over the bytes that enforces the decoding
/// contract (strict RFC 8259 and UTF-8, limits, exact keys, duplicates, typed columns): either exactly
/// one row is appended, or nothing is and the error says what, where and in which field.
/// Built once per schema; not thread-safe (one per reader). No allocation per message on success.
/// Messages of a stream mostly repeat one layout (the same keys in the same order with the same spacing):
/// the decoder remembers the last layout that changed and matches each field's separator, key and colon
/// against it with one masked 32-byte compare, parsing them in full only where they differ. Numbers, short
/// strings and UTC timestamps have vector/word-at-a-time paths; every check of the contract stays on each.
/// </summary>
public sealed unsafe class JsonRowDecoder
{
    /// <summary>Largest accepted message (1 MiB).</summary>
    public const int MaxMessageBytes = 1 << 20;

    /// <summary>Deepest accepted nesting; the top-level object is level 1.</summary>
    public const int MaxDepth = 64;

    private const ulong WhitespaceMask = (1UL << ' ') | (1UL << '\t') | (1UL << '\n') | (1UL << '\r');
    private const uint TrueBytes = 't' | ('r' << 8) | ('u' << 16) | ((uint)'e' << 24);
    private const uint NullBytes = 'n' | ('u' << 8) | ('l' << 16) | ((uint)'l' << 24);
    private const uint AlseBytes = 'a' | ('l' << 8) | ('s' << 16) | ((uint)'e' << 24);

    private readonly byte[][] _names;
    private readonly byte[]?[] _plainNames; // names that appear verbatim in JSON (no '"', '\\', control bytes)
    private readonly Vector128<byte>[] _keyPatterns; // plain name + '"', zero-padded to 16 bytes
    private readonly Vector128<byte>[] _keyMasks;    // 0xFF over the pattern's bytes
    private readonly bool[] _keyPatternOk;           // the name is plain and at most 15 bytes
    private readonly string[] _nameText;
    private readonly ColumnKind[] _kinds;
    private readonly bool[] _required;
    private readonly JsonTimeFormat[] _timeFormats;
    private readonly int[] _table;      // key hash → column index + 1 (open addressing)
    private readonly int _tableMask;
    private readonly uint[] _seen;       // per column: generation of the last message that set it
    private uint _gen;

    // The layout of the last message that left the previous layout (see LearnShape): per field position.
    private const int ShapeBytes = 32;
    private static readonly Vector256<byte>[] ShapeMasks = BuildShapeMasks();
    private readonly FieldShape[] _shapes;
    private int _shapeCount;
    private readonly ShapeRecord[] _seenShape; // the current message's prefixes, per field position
    private int _learnSkip;    // changed layouts to let pass before learning again
    private int _learnBackoff; // the next value of _learnSkip; reset when a message matches the layout throughout

    // The minute of the last timestamp parsed by the fast path: its first 16 bytes and their seconds.
    private Vector128<byte> _tsMinuteText;
    private long _tsMinuteSeconds;

    // Unknown top-level keys of the current message, for duplicate detection.
    private byte[] _keyBytes = new byte[256];
    private int _keyBytesUsed;
    private int[] _keyStart = new int[16];
    private int[] _keyLen = new int[16];
    private int[] _keyHash = new int[16];
    private int _unknownCount;
    private int[] _keySlots = new int[32];   // index + 1 into the arrays above
    private uint[] _keySlotGen = new uint[32];

    private byte[] _scratch = new byte[256];

    private BatchBuilder? _target;
    private ColumnBuilder[] _builders = [];

    // Error of the current message.
    private byte* _start;
    private JsonErrorKind _errKind;
    private int _errOffset;
    private int _errColumn;
    private string _errDetail = "";
    private int _curKeyOffset;
    private int _curKeyLength;

    /// <param name="schema">Fields of the kinds in <see cref="ColumnKind"/>.</param>
    /// <param name="columns">Options by column name (unknown names are a configuration error).</param>
    public JsonRowDecoder(Schema schema, IReadOnlyDictionary<string, JsonColumnOptions>? columns = null)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var n = schema.FieldsList.Count;
        _names = new byte[n][];
        _plainNames = new byte[n][];
        _nameText = new string[n];
        _keyPatterns = new Vector128<byte>[n];
        _keyMasks = new Vector128<byte>[n];
        _keyPatternOk = new bool[n];
        _kinds = new ColumnKind[n];
        _required = new bool[n];
        _timeFormats = new JsonTimeFormat[n];
        _seen = new uint[n];
        _shapes = new FieldShape[n];
        _seenShape = new ShapeRecord[n];
        var problems = new List<string>();
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < n; i++)
        {
            var f = schema.FieldsList[i];
            _nameText[i] = f.Name;
            _names[i] = Encoding.UTF8.GetBytes(f.Name);
            if (_names[i].AsSpan().IndexOfAnyInRange((byte)0, (byte)0x1F) < 0 && _names[i].AsSpan().IndexOfAny((byte)'"', (byte)'\\') < 0)
            {
                _plainNames[i] = _names[i];
                if (_names[i].Length <= 15)
                {
                    var pat = new byte[16];
                    var mask = new byte[16];
                    _names[i].CopyTo(pat, 0);
                    pat[_names[i].Length] = (byte)'"';
                    mask.AsSpan(0, _names[i].Length + 1).Fill(0xFF);
                    _keyPatterns[i] = Vector128.Create(pat);
                    _keyMasks[i] = Vector128.Create(mask);
                    _keyPatternOk[i] = true;
                }
            }
            if (!ColumnTypes.TryFromArrow(f.DataType, out _kinds[i]))
                problems.Add($"column '{f.Name}': Arrow type {f.DataType.Name} is not supported");
            if (!byName.TryAdd(f.Name, i))
                problems.Add($"column '{f.Name}' appears twice in the schema");
            _required[i] = !f.IsNullable;
        }
        if (columns != null)
        {
            foreach (var (name, opt) in columns)
            {
                if (!byName.TryGetValue(name, out var i))
                {
                    problems.Add($"options given for unknown column '{name}'");
                    continue;
                }
                _required[i] |= opt.Required;
                _timeFormats[i] = opt.TimeFormat;
                if (opt.TimeFormat != JsonTimeFormat.Iso && _kinds[i] != ColumnKind.Timestamp)
                    problems.Add($"column '{name}': time format {JsonTimeFormats.Name(opt.TimeFormat)} needs a timestamp column, not {ColumnTypes.Name(_kinds[i])}");
            }
        }
        if (problems.Count > 0)
            throw new ArgumentException("invalid JSON decoder configuration: " + string.Join("; ", problems), nameof(schema));

        var size = 8;
        while (size < n * 4) size <<= 1;
        _table = new int[size];
        _tableMask = size - 1;
        for (var i = 0; i < n; i++)
        {
            var h = (int)(NameHash(_names[i]) & (uint)_tableMask);
            while (_table[h] != 0) h = (h + 1) & _tableMask;
            _table[h] = i + 1;
        }
        Schema = schema;
    }

    public Schema Schema { get; }

    /// <summary>Fields in the remembered message layout (0 when none); for tests.</summary>
    internal int LayoutFields => _shapeCount;

    /// <summary>How many times a layout was learned; for tests.</summary>
    internal int LayoutsLearned { get; private set; }

    /// <summary>
    /// Decodes <paramref name="message"/> and appends exactly one row to <paramref name="into"/>; on failure
    /// appends nothing and describes the problem in <paramref name="error"/>.
    /// </summary>
    public bool TryDecode(ReadOnlySpan<byte> message, BatchBuilder into, out JsonDecodeError error)
    {
        if (!ReferenceEquals(into, _target)) Attach(into);
        if (message.Length == 0)
        {
            error = new JsonDecodeError(JsonErrorKind.Syntax, 0, null, "empty message");
            return false;
        }
        if (message.Length > MaxMessageBytes)
        {
            error = new JsonDecodeError(JsonErrorKind.Limit, MaxMessageBytes, null, $"message of {message.Length} bytes exceeds the {MaxMessageBytes}-byte limit");
            return false;
        }
        var rows = into.Length;
        bool ok;
        fixed (byte* start = message)
        {
            _start = start;
            ok = Decode(start, start + message.Length);
            _start = null;
        }
        if (ok)
        {
            if (_builders.Length == 0) into.AppendEmptyRow();
            error = default;
            return true;
        }
        into.Truncate(rows);
        error = BuildError(message);
        return false;
    }

    private void Attach(BatchBuilder into)
    {
        ArgumentNullException.ThrowIfNull(into);
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

    private JsonDecodeError BuildError(ReadOnlySpan<byte> message)
    {
        string? field = null;
        if (_errColumn >= 0) field = _nameText[_errColumn];
        else if (_errColumn == -2)
        {
            var key = message.Slice(_curKeyOffset, _curKeyLength);
            if (key.Length > 64) key = key[..64];
            field = Encoding.UTF8.GetString(key); // lossy on invalid bytes: for display only
        }
        return new JsonDecodeError(_errKind, _errOffset, field, _errDetail);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private byte* Fail(JsonErrorKind kind, byte* at, string detail, int column = -1)
    {
        _errKind = kind;
        _errOffset = (int)(at - _start);
        _errDetail = detail;
        _errColumn = column;
        return null;
    }

    private bool Error(JsonErrorKind kind, byte* at, string detail, int column = -1)
    {
        Fail(kind, at, detail, column);
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsWs(byte b) => b <= ' ' && ((1UL << b) & WhitespaceMask) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* SkipWs(byte* p, byte* end)
    {
        while (p < end && IsWs(*p)) p++;
        return p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsDigit(byte b) => (uint)(b - '0') <= 9;

    private bool Decode(byte* start, byte* end)
    {
        var gen = ++_gen;
        if (gen == 0)
        {
            System.Array.Clear(_seen);
            System.Array.Clear(_keySlotGen);
            gen = _gen = 1;
        }
        _unknownCount = 0;
        _keyBytesUsed = 0;
        var seenCount = 0;
        var builders = _builders;
        var shapeCount = _shapeCount;
        var shapes = _shapes;
        var learnable = true;  // every field so far is a known column with a short enough prefix
        var missed = false;    // some field was parsed by the general path (the shape changed)
        var hits = 0UL;        // fields matched by the remembered layout (their records are the layout's own)
        var field = 0;
        var predicted = 0;
        var p = start;

        while (true)
        {
            // p is at the start of the message (field 0) or just after the previous value.
            var prefixStart = p;
            byte* keyStart;
            int col;
            ReadOnlySpan<byte> key = default;
            if (field < shapeCount && end - p > ShapeBytes && shapes[field].Matches(p) && !IsWs(p[shapes[field].Length]))
            {
                // The bytes up to this field's value are the remembered ones verbatim (separator, key, colon
                // and whitespace) and no more whitespace follows: the general path would read them the same
                // way and stop at the same byte, so skip them.
                ref readonly var s = ref shapes[field];
                col = s.Column;
                keyStart = p + s.KeyOffset;
                p += s.Length;
                hits |= 1UL << field; // field < 64: layouts are at most 64 fields
            }
            else
            {
                if (field == 0)
                {
                    p = SkipWs(p, end);
                    if (p == end) return Error(JsonErrorKind.Syntax, p, "message holds only whitespace");
                    if (*p != (byte)'{')
                    {
                        if (p == start && end - p >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
                            return Error(JsonErrorKind.Encoding, p, "byte-order mark is not allowed");
                        return Error(JsonErrorKind.Syntax, p, "top level must be an object");
                    }
                    p = SkipWs(p + 1, end);
                    if (p < end && *p == (byte)'}')
                    {
                        p++;
                        break;
                    }
                }
                else
                {
                    p = SkipWs(p, end);
                    if (p >= end) return Error(JsonErrorKind.Syntax, p, "unexpected end of message, expected ',' or '}'");
                    if (*p == (byte)'}')
                    {
                        p++;
                        break;
                    }
                    if (*p != (byte)',') return Error(JsonErrorKind.Syntax, p, "expected ',' or '}'");
                    p = SkipWs(p + 1, end);
                }
                missed = true;
                if (p >= end) return Error(JsonErrorKind.Syntax, p, "unexpected end of message, expected a key");
                if (*p != (byte)'"') return Error(JsonErrorKind.Syntax, p, "expected '\"' to start a key");
                keyStart = p + 1;
                byte* q;
                if (MatchesPredicted(predicted, keyStart, end))
                {
                    // The key is the expected column's name verbatim (that name needs no escaping and is
                    // valid UTF-8, so the raw bytes are a complete, valid key): no scan needed.
                    var len = _plainNames[predicted]!.Length;
                    q = keyStart + len + 1;
                    col = predicted;
                    _curKeyOffset = (int)(keyStart - start);
                    _curKeyLength = len;
                }
                else
                {
                    q = ScanString(keyStart, end, out var escaped);
                    if (q == null) return false;
                    _curKeyOffset = (int)(keyStart - start);
                    _curKeyLength = (int)(q - 1 - keyStart);
                    key = new(keyStart, _curKeyLength);
                    if (escaped) key = UnescapeToScratch(key);
                    col = FindColumn(key, predicted);
                }

                p = SkipWs(q, end);
                if (p >= end || *p != (byte)':') return Error(JsonErrorKind.Syntax, p, "expected ':' after a key");
                p = SkipWs(p + 1, end);
                if (p >= end) return Error(JsonErrorKind.Syntax, p, "unexpected end of message, expected a value");
            }

            if (col >= 0)
            {
                if (_seen[col] == gen) return Error(JsonErrorKind.DuplicateKey, keyStart - 1, "duplicate key", col);
                _seen[col] = gen;
                seenCount++;
                predicted = col + 1;
                if (learnable && (field >= shapeCount || (hits & (1UL << field)) == 0))
                {
                    // Known columns never repeat, so at most one record per column.
                    var len = (int)(p - prefixStart);
                    if (len > ShapeBytes || field >= 64) learnable = false;
                    else
                    {
                        ref var r = ref _seenShape[field];
                        r.Start = (int)(prefixStart - start);
                        r.Length = len;
                        r.KeyOffset = (int)(keyStart - prefixStart);
                        r.Column = col;
                    }
                }
                p = DecodeValue(col, p, end, builders[col]);
            }
            else
            {
                learnable = false;
                if (!AddUnknownKey(key))
                    return Error(JsonErrorKind.DuplicateKey, keyStart - 1, "duplicate key", -2);
                p = SkipValue(p, end);
            }
            if (p == null)
            {
                if (_errColumn == -1 && col < 0) _errColumn = -2;
                return false;
            }
            field++;
        }
        var close = p - 1;
        p = SkipWs(p, end);
        if (p != end) return Error(JsonErrorKind.Syntax, p, "unexpected data after the top-level object");
        if (seenCount != builders.Length)
        {
            for (var c = 0; c < builders.Length; c++)
            {
                if (_seen[c] == gen) continue;
                if (_required[c]) return Error(JsonErrorKind.MissingRequired, close, "required field is missing", c);
                builders[c].AppendNull();
            }
        }
        if (!missed)
        {
            _learnBackoff = 0;
            _learnSkip = 0;
        }
        else if (learnable && Vector256.IsHardwareAccelerated)
        {
            // A stream whose layout changes every message would pay for learning each time: after each
            // learning that did not pay off, wait twice as many (up to 63) changed messages before the next.
            if (_learnSkip > 0)
            {
                _learnSkip--;
            }
            else
            {
                LearnShape(start, field, hits);
                _learnSkip = _learnBackoff;
                _learnBackoff = Math.Min(_learnBackoff * 2 + 1, 63);
            }
        }
        return true;
    }

    /// <summary>
    /// Remembers the layout of a message that decoded: for each field, the bytes from the end of the previous
    /// value (or the message start) to the start of this value. The next message is tried against them first.
    /// Kept out of line: a stackalloc inlined into <see cref="Decode"/> would cost it tiered PGO.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void LearnShape(byte* start, int fields, ulong hits)
    {
        var shapes = _shapes;
        Span<byte> pattern = stackalloc byte[ShapeBytes];
        for (var i = 0; i < fields; i++)
        {
            if ((hits & (1UL << i)) != 0) continue; // matched the layout at this position: unchanged
            ref readonly var r = ref _seenShape[i];
            pattern.Clear();
            new ReadOnlySpan<byte>(start + r.Start, r.Length).CopyTo(pattern);
            shapes[i] = new FieldShape(Vector256.Create<byte>(pattern), ShapeMasks[r.Length], r.Length, r.KeyOffset, r.Column);
        }
        _shapeCount = fields;
        LayoutsLearned++;
    }

    /// <summary>
    /// Whether the bytes at <paramref name="keyStart"/> are column <paramref name="col"/>'s plain name and its
    /// closing quote. Names of up to 15 bytes are compared in one masked 16-byte vector when the message
    /// has 16 bytes left; otherwise byte-wise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool MatchesPredicted(int col, byte* keyStart, byte* end)
    {
        var pats = _keyPatterns;
        if ((uint)col >= (uint)pats.Length) return false;
        if (Vector128.IsHardwareAccelerated && end - keyStart >= 16 && _keyPatternOk[col])
            return ((Vector128.Load(keyStart) ^ pats[col]) & _keyMasks[col]) == Vector128<byte>.Zero;
        var guess = _plainNames[col];
        return guess != null && end - keyStart > guess.Length && keyStart[guess.Length] == (byte)'"'
            && new ReadOnlySpan<byte>(keyStart, guess.Length).SequenceEqual(guess);
    }

    private ReadOnlySpan<byte> UnescapeToScratch(ReadOnlySpan<byte> raw)
    {
        if (_scratch.Length < raw.Length) _scratch = new byte[Math.Max(raw.Length, _scratch.Length * 2)];
        var n = JsonScan.Unescape(raw, _scratch);
        return new ReadOnlySpan<byte>(_scratch, 0, n);
    }

    // ---- keys ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint NameHash(ReadOnlySpan<byte> k)
    {
        var len = (uint)k.Length;
        if (len == 0) return 0x9E3779B9;
        var h = len * 0x9E3779B1u ^ k[0] * 0x85EBCA6Bu ^ k[(int)len - 1] * 0xC2B2AE35u ^ k[(int)(len >> 1)] * 0x27D4EB2Fu;
        h ^= h >> 15;
        h *= 0x2C1B3C6Du;
        h ^= h >> 13;
        return h;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int FindColumn(ReadOnlySpan<byte> key, int predicted)
    {
        var names = _names;
        if ((uint)predicted < (uint)names.Length && key.SequenceEqual(names[predicted])) return predicted;
        var h = (int)(NameHash(key) & (uint)_tableMask);
        while (true)
        {
            var e = _table[h];
            if (e == 0) return -1;
            if (key.SequenceEqual(names[e - 1])) return e - 1;
            h = (h + 1) & _tableMask;
        }
    }

    /// <summary>Remembers an unknown top-level key; false when the message already had it.</summary>
    private bool AddUnknownKey(ReadOnlySpan<byte> key)
    {
        var hash = HashUnknown(key);
        var gen = _gen;
        var mask = _keySlots.Length - 1;
        var h = hash & mask;
        while (_keySlotGen[h] == gen)
        {
            var i = _keySlots[h] - 1;
            if (_keyHash[i] == hash && key.SequenceEqual(new ReadOnlySpan<byte>(_keyBytes, _keyStart[i], _keyLen[i]))) return false;
            h = (h + 1) & mask;
        }
        if (_unknownCount == _keyStart.Length)
        {
            System.Array.Resize(ref _keyStart, _unknownCount * 2);
            System.Array.Resize(ref _keyLen, _unknownCount * 2);
            System.Array.Resize(ref _keyHash, _unknownCount * 2);
        }
        if (_keyBytes.Length - _keyBytesUsed < key.Length)
            System.Array.Resize(ref _keyBytes, Math.Max(_keyBytes.Length * 2, _keyBytesUsed + key.Length));
        key.CopyTo(_keyBytes.AsSpan(_keyBytesUsed));
        var idx = _unknownCount++;
        _keyStart[idx] = _keyBytesUsed;
        _keyLen[idx] = key.Length;
        _keyHash[idx] = hash;
        _keyBytesUsed += key.Length;
        if (_unknownCount * 2 > _keySlots.Length)
        {
            RehashUnknown();
        }
        else
        {
            _keySlots[h] = idx + 1;
            _keySlotGen[h] = gen;
        }
        return true;
    }

    private void RehashUnknown()
    {
        var size = _keySlots.Length * 2;
        _keySlots = new int[size];
        _keySlotGen = new uint[size];
        var mask = size - 1;
        for (var i = 0; i < _unknownCount; i++)
        {
            var h = _keyHash[i] & mask;
            while (_keySlotGen[h] == _gen) h = (h + 1) & mask;
            _keySlots[h] = i + 1;
            _keySlotGen[h] = _gen;
        }
    }

    private static int HashUnknown(ReadOnlySpan<byte> key)
    {
        // Randomly seeded per process, so crafted keys cannot force collisions.
        var hc = default(HashCode);
        hc.AddBytes(key);
        return hc.ToHashCode() & int.MaxValue;
    }

    // ---- strings ----

    /// <summary>
    /// Validates a string body starting at <paramref name="p"/> (just after the opening quote): escapes,
    /// surrogate pairs, control bytes and UTF-8. Returns the pointer just past the closing quote, or null.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* ScanString(byte* p, byte* end, out bool escaped)
    {
        escaped = false;
        while (true)
        {
            p = JsonScan.FindStringSpecial(p, end, _start);
            if (p >= end) return Fail(JsonErrorKind.Syntax, p, "unterminated string");
            var c = *p;
            if (c == (byte)'"') return p + 1;
            p = ScanSpecial(p, end, ref escaped);
            if (p == null) return null;
        }
    }

    private byte* ScanSpecial(byte* p, byte* end, ref bool escaped)
    {
        var c = *p;
        if (c == (byte)'\\')
        {
            escaped = true;
            return CheckEscape(p, end);
        }
        if (c >= 0x80)
        {
            do
            {
                var n = JsonScan.Utf8SequenceLength(p, end);
                if (n == 0) return Fail(JsonErrorKind.Encoding, p, DescribeBadUtf8(p, end));
                p += n;
            }
            while (p < end && *p >= 0x80);
            return p;
        }
        return Fail(JsonErrorKind.Syntax, p, $"unescaped control character 0x{c:X2} in string");
    }

    private static string DescribeBadUtf8(byte* p, byte* end)
    {
        var b0 = p[0];
        if (b0 is 0xC0 or 0xC1 || (b0 == 0xE0 && end - p > 1 && p[1] < 0xA0) || (b0 == 0xF0 && end - p > 1 && p[1] < 0x90))
            return "invalid UTF-8: overlong encoding";
        if (b0 == 0xED && end - p > 1 && p[1] >= 0xA0)
            return "invalid UTF-8: encoded surrogate";
        if (b0 < 0xC0) return $"invalid UTF-8: unexpected continuation byte 0x{b0:X2}";
        if (b0 >= 0xF5 || (b0 == 0xF4 && end - p > 1 && p[1] >= 0x90)) return $"invalid UTF-8: byte 0x{b0:X2} beyond U+10FFFF";
        return "invalid UTF-8: truncated or malformed sequence";
    }

    private byte* CheckEscape(byte* p, byte* end)
    {
        if (end - p < 2) return Fail(JsonErrorKind.Syntax, p, "unterminated string");
        switch (p[1])
        {
            case (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t':
                return p + 2;
            case (byte)'u':
                {
                    if (end - p < 6) return Fail(JsonErrorKind.Syntax, p, "truncated \\u escape");
                    var cp = JsonScan.Hex4(p + 2);
                    if (cp < 0) return Fail(JsonErrorKind.Syntax, p, "\\u escape needs 4 hex digits");
                    if (cp is >= 0xDC00 and <= 0xDFFF) return Fail(JsonErrorKind.Encoding, p, "unpaired low surrogate escape");
                    if (cp is < 0xD800 or > 0xDBFF) return p + 6;
                    if (end - p < 12 || p[6] != (byte)'\\' || p[7] != (byte)'u')
                        return Fail(JsonErrorKind.Encoding, p, "unpaired high surrogate escape");
                    var lo = JsonScan.Hex4(p + 8);
                    if (lo < 0) return Fail(JsonErrorKind.Syntax, p + 6, "\\u escape needs 4 hex digits");
                    if (lo is < 0xDC00 or > 0xDFFF) return Fail(JsonErrorKind.Encoding, p, "unpaired high surrogate escape");
                    return p + 12;
                }
            default:
                return Fail(JsonErrorKind.Syntax, p, "invalid escape sequence");
        }
    }

    // ---- numbers ----

    /// <summary>Validates the number grammar from <paramref name="p"/>; reports whether it has a fraction or exponent.</summary>
    private byte* ScanNumber(byte* p, byte* end, out bool isInteger)
    {
        isInteger = true;
        if (*p == (byte)'-')
        {
            p++;
            if (p >= end || !IsDigit(*p)) return Fail(JsonErrorKind.Syntax, p, "expected a digit after '-'");
        }
        if (*p == (byte)'0')
        {
            p++;
            if (p < end && IsDigit(*p)) return Fail(JsonErrorKind.Syntax, p - 1, "leading zeros are not allowed");
        }
        else if (IsDigit(*p))
        {
            p++;
            while (p < end && IsDigit(*p)) p++;
        }
        else
        {
            return Fail(JsonErrorKind.Syntax, p, "invalid number");
        }
        if (p < end && *p == (byte)'.')
        {
            isInteger = false;
            p++;
            if (p >= end || !IsDigit(*p)) return Fail(JsonErrorKind.Syntax, p, "expected a digit after '.'");
            while (p < end && IsDigit(*p)) p++;
        }
        if (p < end && (*p | 0x20) == (byte)'e')
        {
            isInteger = false;
            p++;
            if (p < end && (*p == (byte)'+' || *p == (byte)'-')) p++;
            if (p >= end || !IsDigit(*p)) return Fail(JsonErrorKind.Syntax, p, "expected a digit in the exponent");
            while (p < end && IsDigit(*p)) p++;
        }
        return p;
    }

    /// <summary>Parses an integer-form number into an int64; type/range errors name <paramref name="col"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* ParseInteger(byte* p, byte* end, int col, out long value)
    {
        var s = p;
        var neg = *p == (byte)'-';
        if (neg) p++;
        if (Vector256.IsHardwareAccelerated && end - p >= 32)
        {
            // The digit run's length from one vector compare, then its value in whole eight-digit words: no
            // loop whose trip count the branch predictor has to guess. Anything unusual (a leading zero, a
            // fraction or exponent, over 18 digits that may not fit) takes the general code below.
            var run = JsonScan.DigitRun(p);
            if (run is >= 1 and <= 19 && (*p != (byte)'0' || run == 1))
            {
                var next = p[run];
                var fast = JsonScan.ParseDigits(p, run);
                if (next != (byte)'.' && (next | 0x20) != (byte)'e' && (neg ? fast <= 1UL << 63 : fast <= long.MaxValue))
                {
                    value = neg ? unchecked((long)(0 - fast)) : (long)fast;
                    return p + run;
                }
            }
        }
        var digits = p;
        ulong v = 0;
        // Eight digits at a time while they last (SWAR), then byte by byte.
        while (end - p >= 8)
        {
            var w = Unsafe.ReadUnaligned<ulong>(p);
            if (!JsonScan.AreEightDigits(w)) break;
            v = unchecked(v * 100_000_000 + JsonScan.EightDigits(w));
            p += 8;
        }
        while (p < end && IsDigit(*p))
        {
            v = unchecked(v * 10 + (uint)(*p - '0'));
            p++;
        }
        var nd = (int)(p - digits);
        if (nd == 0 || (*digits == (byte)'0' && nd > 1) || (p < end && (*p == (byte)'.' || (*p | 0x20) == (byte)'e')))
        {
            // Not a plain integer: find out whether it is invalid JSON or just not integer-form.
            value = 0;
            var q = ScanNumber(s, end, out _);
            if (q == null) { _errColumn = col; return null; }
            return Fail(JsonErrorKind.TypeMismatch, s, "integer column takes only integer-form numbers (no fraction or exponent)", col);
        }
        if (nd > 19 || (neg ? v > 1UL << 63 : v > long.MaxValue))
        {
            value = 0;
            return Fail(JsonErrorKind.OutOfRange, s, "integer out of int64 range", col);
        }
        value = neg ? unchecked((long)(0 - v)) : (long)v;
        return p;
    }

    private static readonly double[] ExactPowersOf10 =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    /// <summary>
    /// Parses any JSON number as float64, correctly rounded. Conversion is <c>double.Parse</c>, except in
    /// the exact case (Clinger's fast path, also taken inside the runtime's parser): a decimal significand
    /// w ≤ 2^53 and a power 10^k with |k| ≤ 22 are both exact doubles, so the single IEEE multiply or
    /// divide w·10^k is the correctly rounded result.
    /// </summary>
    private byte* ParseDouble(byte* p, byte* end, int col, out double value)
    {
        var s = p;
        var neg = *p == (byte)'-';
        if (neg) p++;
        if (Vector256.IsHardwareAccelerated && end - p >= 32)
        {
            // Plain decimals (digits, optionally '.' and digits, no exponent, ≤ 19 significant digits) from
            // one digit mask: the exact case of the general code below, without its per-digit loop.
            var mask = JsonScan.DigitMask(p);
            var n1 = BitOperations.TrailingZeroCount(~mask);
            if (n1 is >= 1 and <= 19 && (*p != (byte)'0' || n1 == 1))
            {
                var next = p[n1];
                if (next == (byte)'.')
                {
                    var n2 = BitOperations.TrailingZeroCount(~mask >> (n1 + 1));
                    var stop = n1 + 1 + n2;
                    if (n2 >= 1 && n1 + n2 <= 19 && stop < 32 && (p[stop] | 0x20) != (byte)'e')
                    {
                        var m = JsonScan.ParseDigits(p, n1) * JsonScan.PowersOf10[n2] + JsonScan.ParseDigits(p + n1 + 1, n2);
                        if (m <= 1UL << 53)
                        {
                            var d = (double)m / ExactPowersOf10[n2];
                            value = neg ? -d : d;
                            return p + stop;
                        }
                    }
                }
                else if ((next | 0x20) != (byte)'e')
                {
                    var whole = JsonScan.ParseDigits(p, n1);
                    if (whole <= 1UL << 53)
                    {
                        value = neg ? -(double)whole : whole;
                        return p + n1;
                    }
                }
            }
            p = neg ? s + 1 : s;
        }
        value = 0;
        if (p >= end || !IsDigit(*p))
        {
            ScanNumber(s, end, out _); // reports the syntax error
            _errColumn = col;
            return null;
        }
        ulong mant = 0;
        var digits = 0;
        if (*p == (byte)'0')
        {
            p++;
            if (p < end && IsDigit(*p)) return Fail(JsonErrorKind.Syntax, p - 1, "leading zeros are not allowed", col);
        }
        else
        {
            while (p < end && IsDigit(*p))
            {
                mant = unchecked(mant * 10 + (uint)(*p - '0'));
                digits++;
                p++;
            }
        }
        var frac = 0;
        if (p < end && *p == (byte)'.')
        {
            p++;
            if (p >= end || !IsDigit(*p)) return Fail(JsonErrorKind.Syntax, p, "expected a digit after '.'", col);
            while (p < end && IsDigit(*p))
            {
                mant = unchecked(mant * 10 + (uint)(*p - '0'));
                digits++;
                frac++;
                p++;
            }
        }
        var exp = 0;
        var expOk = true;
        if (p < end && (*p | 0x20) == (byte)'e')
        {
            p++;
            var expNeg = false;
            if (p < end && (*p == (byte)'+' || *p == (byte)'-'))
            {
                expNeg = *p == (byte)'-';
                p++;
            }
            if (p >= end || !IsDigit(*p)) return Fail(JsonErrorKind.Syntax, p, "expected a digit in the exponent", col);
            while (p < end && IsDigit(*p))
            {
                if (exp < 100_000) exp = exp * 10 + (*p - '0');
                else expOk = false;
                p++;
            }
            if (expNeg) exp = -exp;
        }
        var e10 = exp - frac;
        if (expOk && digits <= 19 && mant <= 1UL << 53 && e10 is >= -22 and <= 22)
        {
            var m = (double)mant;
            value = e10 < 0 ? m / ExactPowersOf10[-e10] : m * ExactPowersOf10[e10];
            if (neg) value = -value;
            return p;
        }
        value = double.Parse(new ReadOnlySpan<byte>(s, (int)(p - s)), NumberStyles.Float, CultureInfo.InvariantCulture);
        if (!double.IsFinite(value)) return Fail(JsonErrorKind.OutOfRange, s, "number out of float64 range", col);
        return p;
    }

    // ---- values ----

    private byte* DecodeValue(int col, byte* p, byte* end, ColumnBuilder b)
    {
        var c = *p;
        if (c == (byte)'n')
        {
            if (end - p < 4 || Unsafe.ReadUnaligned<uint>(p) != NullBytes) return Fail(JsonErrorKind.Syntax, p, "invalid literal", col);
            if (_required[col]) return Fail(JsonErrorKind.MissingRequired, p, "required field is null", col);
            b.AppendNull();
            return p + 4;
        }
        switch (_kinds[col])
        {
            case ColumnKind.Int64:
                if (c == (byte)'-' || IsDigit(c))
                {
                    p = ParseInteger(p, end, col, out var v);
                    if (p != null) b.AppendInt64(v);
                    return p;
                }
                break;
            case ColumnKind.Int32:
                if (c == (byte)'-' || IsDigit(c))
                {
                    var s = p;
                    p = ParseInteger(p, end, col, out var v);
                    if (p == null) return null;
                    if (v is < int.MinValue or > int.MaxValue) return Fail(JsonErrorKind.OutOfRange, s, "integer out of int32 range", col);
                    b.AppendInt32((int)v);
                    return p;
                }
                break;
            case ColumnKind.Float64:
                if (c == (byte)'-' || IsDigit(c))
                {
                    p = ParseDouble(p, end, col, out var v);
                    if (p != null) b.AppendDouble(v);
                    return p;
                }
                break;
            case ColumnKind.String:
                if (c == (byte)'"')
                {
                    var body = p + 1;
                    p = ScanString(body, end, out var escaped);
                    if (p == null) { _errColumn = col; return null; }
                    var len = (int)(p - 1 - body);
                    if (!escaped && len <= 32 && Vector256.IsHardwareAccelerated && end - body >= 32)
                    {
                        // A short string: one 32-byte copy into reserved room (bytes past its length are
                        // not committed) instead of a call to Memmove.
                        var dst = b.ReserveUtf8(32);
                        Vector256.Load(body).StoreUnsafe(ref MemoryMarshal.GetReference(dst));
                        b.CommitUtf8(len);
                    }
                    else if (!escaped)
                    {
                        b.AppendUtf8(new ReadOnlySpan<byte>(body, len));
                    }
                    else
                    {
                        var n = JsonScan.Unescape(new ReadOnlySpan<byte>(body, len), b.ReserveUtf8(len));
                        b.CommitUtf8(n);
                    }
                    return p;
                }
                break;
            case ColumnKind.Bool:
                if (c == (byte)'t')
                {
                    if (end - p < 4 || Unsafe.ReadUnaligned<uint>(p) != TrueBytes) return Fail(JsonErrorKind.Syntax, p, "invalid literal", col);
                    b.AppendBool(true);
                    return p + 4;
                }
                if (c == (byte)'f')
                {
                    if (end - p < 5 || Unsafe.ReadUnaligned<uint>(p + 1) != AlseBytes) return Fail(JsonErrorKind.Syntax, p, "invalid literal", col);
                    b.AppendBool(false);
                    return p + 5;
                }
                break;
            case ColumnKind.Timestamp:
                return DecodeTimestamp(col, p, end, b);
            case ColumnKind.Date:
                if (c == (byte)'"')
                {
                    var body = p + 1;
                    p = ScanString(body, end, out var escaped);
                    if (p == null) { _errColumn = col; return null; }
                    var text = new ReadOnlySpan<byte>(body, (int)(p - 1 - body));
                    if (escaped) text = UnescapeToScratch(text);
                    var err = JsonTime.TryParseDate(text, out var days);
                    if (err != null) return Fail(JsonErrorKind.InvalidTime, body - 1, err, col);
                    b.AppendInt32(days);
                    return p;
                }
                break;
        }
        return TypeError(col, p);
    }

    private byte* DecodeTimestamp(int col, byte* p, byte* end, ColumnBuilder b)
    {
        var c = *p;
        var format = _timeFormats[col];
        if (format == JsonTimeFormat.Iso)
        {
            if (c != (byte)'"') return TypeError(col, p);
            var body = p + 1;
            p = ScanString(body, end, out var escaped);
            if (p == null) { _errColumn = col; return null; }
            var textLength = (int)(p - 1 - body);
            if (!escaped && textLength >= 20)
            {
                // Timestamps of consecutive messages mostly share their minute: the last one's first 16 bytes
                // (YYYY-MM-DDTHH:MM, validated) and its seconds are kept, so only ":SS.fZ" is parsed then.
                var head = Vector128.Load(body);
                if (head == _tsMinuteText && JsonTime.TryParseUtcTail(body, textLength, out var tail))
                {
                    b.AppendInt64(_tsMinuteSeconds * JsonTime.MicrosPerSecond + tail);
                    return p;
                }
                if (JsonTime.TryParseUtcTimestampFast(body, textLength, out var fast, out var minute))
                {
                    _tsMinuteText = head;
                    _tsMinuteSeconds = minute;
                    b.AppendInt64(fast);
                    return p;
                }
            }
            var text = new ReadOnlySpan<byte>(body, textLength);
            if (escaped) text = UnescapeToScratch(text);
            var err = JsonTime.TryParseTimestamp(text, out var micros);
            if (err != null) return Fail(JsonErrorKind.InvalidTime, body - 1, err, col);
            b.AppendInt64(micros);
            return p;
        }
        if (c != (byte)'-' && !IsDigit(c)) return TypeError(col, p);
        var s = p;
        p = ParseInteger(p, end, col, out var v);
        if (p == null) return null;
        long scale = format switch
        {
            JsonTimeFormat.EpochSeconds => 1_000_000,
            JsonTimeFormat.EpochMillis => 1_000,
            _ => 1,
        };
        if (v > long.MaxValue / scale || v < long.MinValue / scale)
            return Fail(JsonErrorKind.OutOfRange, s, $"epoch value out of range for {JsonTimeFormats.Name(format)}", col);
        b.AppendInt64(v * scale);
        return p;
    }

    private byte* TypeError(int col, byte* p)
    {
        var found = *p switch
        {
            (byte)'"' => "a string",
            (byte)'{' => "an object",
            (byte)'[' => "an array",
            (byte)'t' or (byte)'f' => "a boolean",
            (byte)'-' or (>= (byte)'0' and <= (byte)'9') => "a number",
            _ => null,
        };
        if (found == null) return Fail(JsonErrorKind.Syntax, p, "invalid value", col);
        var kind = _kinds[col];
        var hint = kind == ColumnKind.Timestamp && found == "a number" ? " (declare an epoch time format for numeric timestamps)" : "";
        var want = kind == ColumnKind.Timestamp && _timeFormats[col] != JsonTimeFormat.Iso
            ? "an integer epoch number"
            : kind switch
            {
                ColumnKind.Bool => "true or false",
                ColumnKind.Int32 or ColumnKind.Int64 => "an integer number",
                ColumnKind.Float64 => "a number",
                ColumnKind.String => "a string",
                ColumnKind.Timestamp => "a timestamp string",
                _ => "a date string",
            };
        return Fail(JsonErrorKind.TypeMismatch, p, $"expected {want} for {ColumnTypes.Name(kind)} column, found {found}{hint}", col);
    }

    /// <summary>
    /// Validates and skips any JSON value (iteratively: nesting is tracked in a 64-bit stack, so depth
    /// never touches the call stack). The enclosing top-level object is level 1.
    /// </summary>
    private byte* SkipValue(byte* p, byte* end)
    {
        ulong stack = 0; // bit 0 = innermost open container is an object
        var depth = 1;
    Value:
        if (p >= end) return Fail(JsonErrorKind.Syntax, p, "unexpected end of message, expected a value");
        switch (*p)
        {
            case (byte)'"':
                p = ScanString(p + 1, end, out _);
                if (p == null) return null;
                goto After;
            case (byte)'{':
                if (++depth > MaxDepth) return Fail(JsonErrorKind.Limit, p, $"nesting deeper than {MaxDepth}");
                stack = (stack << 1) | 1;
                p = SkipWs(p + 1, end);
                if (p < end && *p == (byte)'}')
                {
                    p++;
                    depth--;
                    stack >>= 1;
                    goto After;
                }
                goto Key;
            case (byte)'[':
                if (++depth > MaxDepth) return Fail(JsonErrorKind.Limit, p, $"nesting deeper than {MaxDepth}");
                stack <<= 1;
                p = SkipWs(p + 1, end);
                if (p < end && *p == (byte)']')
                {
                    p++;
                    depth--;
                    stack >>= 1;
                    goto After;
                }
                goto Value;
            case (byte)'t':
                if (end - p < 4 || Unsafe.ReadUnaligned<uint>(p) != TrueBytes) return Fail(JsonErrorKind.Syntax, p, "invalid literal");
                p += 4;
                goto After;
            case (byte)'f':
                if (end - p < 5 || Unsafe.ReadUnaligned<uint>(p + 1) != AlseBytes) return Fail(JsonErrorKind.Syntax, p, "invalid literal");
                p += 5;
                goto After;
            case (byte)'n':
                if (end - p < 4 || Unsafe.ReadUnaligned<uint>(p) != NullBytes) return Fail(JsonErrorKind.Syntax, p, "invalid literal");
                p += 4;
                goto After;
            default:
                if (*p != (byte)'-' && !IsDigit(*p)) return Fail(JsonErrorKind.Syntax, p, "invalid value");
                p = ScanNumber(p, end, out _);
                if (p == null) return null;
                goto After;
        }
    Key:
        if (p >= end) return Fail(JsonErrorKind.Syntax, p, "unexpected end of message, expected a key");
        if (*p != (byte)'"') return Fail(JsonErrorKind.Syntax, p, "expected '\"' to start a key");
        p = ScanString(p + 1, end, out _);
        if (p == null) return null;
        p = SkipWs(p, end);
        if (p >= end || *p != (byte)':') return Fail(JsonErrorKind.Syntax, p, "expected ':' after a key");
        p = SkipWs(p + 1, end);
        goto Value;
    After:
        if (depth == 1) return p;
        p = SkipWs(p, end);
        if (p >= end) return Fail(JsonErrorKind.Syntax, p, "unexpected end of message inside a nested value");
        var inObject = (stack & 1) != 0;
        if (*p == (byte)',')
        {
            p = SkipWs(p + 1, end);
            if (inObject) goto Key;
            goto Value;
        }
        if (*p == (inObject ? (byte)'}' : (byte)']'))
        {
            p++;
            depth--;
            stack >>= 1;
            goto After;
        }
        return Fail(JsonErrorKind.Syntax, p, inObject ? "expected ',' or '}'" : "expected ',' or ']'");
    }

    private static Vector256<byte>[] BuildShapeMasks()
    {
        var masks = new Vector256<byte>[ShapeBytes + 1];
        Span<byte> m = stackalloc byte[ShapeBytes];
        for (var len = 0; len <= ShapeBytes; len++)
        {
            m.Clear();
            m[..len].Fill(0xFF);
            masks[len] = Vector256.Create<byte>(m);
        }
        return masks;
    }

    /// <summary>One field of a remembered layout: the prefix bytes (zero-padded) and what they lead to.</summary>
    private readonly struct FieldShape(Vector256<byte> pattern, Vector256<byte> mask, int length, int keyOffset, int column)
    {
        private readonly Vector256<byte> _pattern = pattern;
        private readonly Vector256<byte> _mask = mask;
        /// <summary>Bytes from the end of the previous value to the start of this one.</summary>
        public readonly int Length = length;
        /// <summary>Offset of the key's first byte (after its opening quote) in the prefix.</summary>
        public readonly int KeyOffset = keyOffset;
        public readonly int Column = column;

        /// <summary>Whether the <see cref="ShapeBytes"/> bytes at <paramref name="p"/> start with the prefix.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Matches(byte* p) => ((Vector256.Load(p) ^ _pattern) & _mask) == Vector256<byte>.Zero;
    }

    private struct ShapeRecord
    {
        public int Start;
        public int Length;
        public int KeyOffset;
        public int Column;
    }
}
