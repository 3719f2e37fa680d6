using System.Globalization;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Expressions;

/// <summary>A path into a JSON value: object keys and array indexes (negative counts from the end, for -> only).</summary>
internal static class JsonPath
{
    public readonly record struct Step(byte[]? Key, long Index)
    {
        public static Step Of(object key) => key is string s ? new Step(Encoding.UTF8.GetBytes(s), 0) : new Step(null, Convert.ToInt64(key, CultureInfo.InvariantCulture));
        public override string ToString() => Key != null ? "." + Encoding.UTF8.GetString(Key) : $"[{Index}]";
    }

    /// <summary>Parses <c>$</c>, <c>.key</c>, <c>."quoted key"</c>, <c>['key']</c>, <c>[n]</c> (an optional <c>lax</c>/<c>strict</c> prefix is accepted).</summary>
    public static Step[] Parse(string path, int pos)
    {
        var p = path.Trim();
        if (p.StartsWith("lax ", StringComparison.Ordinal)) p = p[4..].TrimStart();
        else if (p.StartsWith("strict ", StringComparison.Ordinal)) p = p[7..].TrimStart();
        if (p.Length == 0 || p[0] != '$') throw new ExpressionException($"JSON path '{path}' must start with $", pos);
        var steps = new List<Step>();
        var i = 1;
        while (i < p.Length)
        {
            if (p[i] == '.')
            {
                i++;
                if (i < p.Length && p[i] == '"')
                {
                    var close = p.IndexOf('"', i + 1);
                    if (close < 0) throw new ExpressionException($"unterminated quoted key in JSON path '{path}'", pos);
                    steps.Add(new Step(Encoding.UTF8.GetBytes(p[(i + 1)..close]), 0));
                    i = close + 1;
                    continue;
                }
                var start = i;
                while (i < p.Length && (char.IsLetterOrDigit(p[i]) || p[i] is '_' or '$')) i++;
                if (i == start) throw new ExpressionException($"expected a key after '.' in JSON path '{path}'", pos);
                steps.Add(new Step(Encoding.UTF8.GetBytes(p[start..i]), 0));
            }
            else if (p[i] == '[')
            {
                var close = p.IndexOf(']', i + 1);
                if (close < 0) throw new ExpressionException($"expected ']' in JSON path '{path}'", pos);
                var inner = p[(i + 1)..close].Trim();
                if (inner.Length >= 2 && inner[0] is '\'' or '"' && inner[^1] == inner[0]) steps.Add(new Step(Encoding.UTF8.GetBytes(inner[1..^1]), 0));
                else if (long.TryParse(inner, NumberStyles.None, CultureInfo.InvariantCulture, out var idx)) steps.Add(new Step(null, idx));
                else throw new ExpressionException($"unsupported array subscript '[{inner}]' in JSON path '{path}' (use [n] or ['key'])", pos);
                i = close + 1;
            }
            else throw new ExpressionException($"unexpected '{p[i]}' in JSON path '{path}'", pos);
        }
        return [.. steps];
    }

    private static readonly JsonReaderOptions Options = new() { CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false, MaxDepth = 64 };

    /// <summary>True when <paramref name="json"/> is exactly one valid JSON value.</summary>
    public static bool IsValid(ReadOnlySpan<byte> json)
    {
        try
        {
            var r = new Utf8JsonReader(json, Options);
            if (!r.Read()) return false;
            r.Skip();
            while (r.Read()) { }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>The bytes of the child value at <paramref name="step"/> of a valid JSON value; false when absent.</summary>
    public static bool Child(ReadOnlySpan<byte> json, Step step, out int start, out int length)
    {
        start = length = 0;
        var r = new Utf8JsonReader(json, Options);
        r.Read();
        if (step.Key != null)
        {
            if (r.TokenType != JsonTokenType.StartObject) return false;
            var found = false;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                var match = r.ValueTextEquals(step.Key);
                r.Read();
                var s = (int)r.TokenStartIndex;
                r.Skip();
                if (match)
                {
                    // Duplicate keys: the last one wins, as PostgreSQL's json operators.
                    found = true;
                    start = s;
                    length = (int)r.BytesConsumed - s;
                }
            }
            return found;
        }
        if (r.TokenType != JsonTokenType.StartArray) return false;
        var index = step.Index;
        if (index < 0)
        {
            var count = 0L;
            var counter = r;
            while (counter.Read() && counter.TokenType != JsonTokenType.EndArray) { counter.Skip(); count++; }
            index += count;
            if (index < 0) return false;
        }
        for (var k = 0L; r.Read() && r.TokenType != JsonTokenType.EndArray; k++)
        {
            var s = (int)r.TokenStartIndex;
            r.Skip();
            if (k == index)
            {
                start = s;
                length = (int)r.BytesConsumed - s;
                return true;
            }
        }
        return false;
    }
}

/// <summary>
/// JSON extraction from a string column: <c>s -> key</c> (the value's JSON text, verbatim), <c>s ->> key</c>
/// (strings unescaped, JSON null → NULL, other values as JSON text) and json_value(s, path) (scalars only;
/// objects, arrays and null → NULL). Text that is not valid JSON gives NULL for that row, not an error.
/// </summary>
public sealed class JsonVExpr : VExpr
{
    private readonly string _op;
    private readonly VExpr _s;
    private readonly JsonPath.Step[]? _steps;
    private readonly VExpr? _key;
    private readonly bool _asText;

    internal JsonVExpr(string op, VExpr s, JsonPath.Step[]? steps, VExpr? key, bool asText)
    {
        _op = op;
        _s = s;
        _steps = steps;
        _key = key;
        _asText = asText;
    }

    public override ColumnKind Kind => ColumnKind.String;

    public override string Describe() => _op == "json_value"
        ? $"json_value({_s.Describe()}, '${string.Concat(_steps!.Select(st => st.ToString()))}')"
        : $"({_s.Describe()} {_op} {(_key != null ? _key.Describe() : _steps![0].Key != null ? "'" + Encoding.UTF8.GetString(_steps[0].Key!) + "'" : _steps[0].Index.ToString(CultureInfo.InvariantCulture))})";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(_s, ctx);
        var keyIsString = _key?.Kind == ColumnKind.String;
        var keyStr = keyIsString ? StrCol.Of(_key!, ctx) : default;
        var keyInt = _key != null && !keyIsString ? IntCol.Of(_key, ctx) : default;
        var o = new StringOut(ctx.Assembler, n, src.Bytes(n) / 2 + 16);
        byte[]? keyBytes = null;
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i) || (_key != null && (keyIsString ? keyStr.IsNull(i) : keyInt.IsNull(i)))) { o.Null(); continue; }
            var doc = src.Get(i);
            if (!JsonPath.IsValid(doc)) { o.Null(); continue; }
            var cur = doc;
            var ok = true;
            if (_steps != null)
            {
                foreach (var step in _steps)
                {
                    if (!JsonPath.Child(cur, step, out var s, out var l)) { ok = false; break; }
                    cur = cur.Slice(s, l);
                }
            }
            else
            {
                JsonPath.Step step;
                if (keyIsString)
                {
                    var k = keyStr.Get(i);
                    if (keyBytes == null || !k.SequenceEqual(keyBytes)) keyBytes = k.ToArray();
                    step = new JsonPath.Step(keyBytes, 0);
                }
                else step = new JsonPath.Step(null, keyInt.Get(i));
                ok = JsonPath.Child(cur, step, out var s, out var l);
                if (ok) cur = cur.Slice(s, l);
            }
            if (!ok) { o.Null(); continue; }
            Emit(cur, o);
        }
        return o.Finish();
    }

    private void Emit(ReadOnlySpan<byte> value, StringOut o)
    {
        if (!_asText) { o.Add(value); return; }
        var first = value[0];
        if (first == '"')
        {
            var r = new Utf8JsonReader(value);
            r.Read();
            var dst = o.Reserve(r.ValueSpan.Length + 4);
            o.Commit(r.CopyString(dst));
            return;
        }
        if (first == 'n') { o.Null(); return; }
        if (_op == "json_value" && first is (byte)'{' or (byte)'[') { o.Null(); return; }
        o.Add(value);
    }
}

/// <summary>md5(s) and sha256(s) as lowercase hex of the UTF-8 bytes; xxhash64(s) as int64 (seed 0, the unsigned hash reinterpreted).</summary>
public sealed class HashVExpr(string name, VExpr s) : RowFuncVExpr(name, [s], name == "xxhash64" ? ColumnKind.Int64 : ColumnKind.String)
{
    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(s, ctx);
        if (FunctionName == "xxhash64")
        {
            var o = new FixedOut<long>(ctx.Assembler, ColumnKind.Int64, n);
            for (var i = 0; i < n; i++)
                if (src.IsNull(i)) o.Null(i); else o.Set(i, unchecked((long)XxHash64.HashToUInt64(src.Get(i))));
            return o.Finish();
        }
        var size = FunctionName == "md5" ? 16 : 32;
        var so = new StringOut(ctx.Assembler, n, n * size * 2);
        Span<byte> digest = stackalloc byte[32];
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i)) { so.Null(); continue; }
            if (size == 16) MD5.HashData(src.Get(i), digest);
            else SHA256.HashData(src.Get(i), digest);
            var dst = so.Reserve(size * 2);
            for (var k = 0; k < size; k++)
            {
                dst[2 * k] = Hex[digest[k] >> 4];
                dst[2 * k + 1] = Hex[digest[k] & 15];
            }
            so.Commit(size * 2);
        }
        return so.Finish();
    }

    private static ReadOnlySpan<byte> Hex => "0123456789abcdef"u8;
}

/// <summary>
/// PII masking. mask_email keeps the first character of the local part and the domain ('j***@example.com');
/// mask_card keeps the last 4 digits only of a 12–19 digit number that passes the Luhn check, else masks every
/// digit; mask_phone keeps the last 4 digits of numbers with 10+ digits, the last 2 of 6–9 digits, none below.
/// Non-digit characters (separators, '+') are kept; text that is not an email becomes '***'. Never NULL for
/// a non-NULL input, and never the input unchanged when it holds what the function masks.
/// </summary>
public sealed class MaskVExpr(string name, VExpr s) : RowFuncVExpr(name, [s], ColumnKind.String)
{
    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(s, ctx);
        var o = new StringOut(ctx.Assembler, n, src.Bytes(n) + n * 4 + 16);
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i)) { o.Null(); continue; }
            var v = src.Get(i);
            var dst = o.Reserve(v.Length + 8);
            o.Commit(FunctionName switch
            {
                "mask_email" => Email(v, dst),
                "mask_card" => Digits(v, dst, Luhn(v) ? 4 : 0),
                _ => Digits(v, dst, Phone(v)),
            });
        }
        return o.Finish();
    }

    internal static int Email(ReadOnlySpan<byte> v, Span<byte> dst)
    {
        var at = v.LastIndexOf((byte)'@');
        if (at <= 0 || at == v.Length - 1)
        {
            "***"u8.CopyTo(dst);
            return 3;
        }
        var first = Math.Min(Utf8Util.SeqLen(v[0]), at);
        v[..first].CopyTo(dst);
        "***"u8.CopyTo(dst[first..]);
        v[at..].CopyTo(dst[(first + 3)..]);
        return first + 3 + v.Length - at;
    }

    private static int CountDigits(ReadOnlySpan<byte> v)
    {
        var d = 0;
        foreach (var b in v) if (b is >= (byte)'0' and <= (byte)'9') d++;
        return d;
    }

    internal static bool Luhn(ReadOnlySpan<byte> v)
    {
        var digits = CountDigits(v);
        if (digits is < 12 or > 19) return false;
        int sum = 0, k = 0;
        for (var i = v.Length - 1; i >= 0; i--)
        {
            if (v[i] is < (byte)'0' or > (byte)'9') continue;
            var d = v[i] - '0';
            if (k++ % 2 == 1)
            {
                d *= 2;
                if (d > 9) d -= 9;
            }
            sum += d;
        }
        return sum % 10 == 0;
    }

    private static int Phone(ReadOnlySpan<byte> v)
    {
        var d = CountDigits(v);
        return d >= 10 ? 4 : d >= 6 ? 2 : 0;
    }

    /// <summary>Copies <paramref name="v"/> with every digit but the last <paramref name="keep"/> replaced by '*'.</summary>
    internal static int Digits(ReadOnlySpan<byte> v, Span<byte> dst, int keep)
    {
        var total = CountDigits(v);
        var seen = 0;
        for (var i = 0; i < v.Length; i++)
        {
            var b = v[i];
            if (b is >= (byte)'0' and <= (byte)'9')
            {
                dst[i] = seen++ >= total - keep ? b : (byte)'*';
            }
            else dst[i] = b;
        }
        return v.Length;
    }
}
