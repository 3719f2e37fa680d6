using System.Buffers.Text;
using System.Globalization;
using System.Text;
using AiEtl.Engine.Columns;

namespace AiEtl.Engine.Postgres;

/// <summary>How a PostgreSQL column's text form becomes an engine value.</summary>
internal enum PgConv : byte
{
    /// <summary>Text kept as is (text, varchar, numeric, uuid, json, jsonb, and every type without a mapping).</summary>
    Text,
    Int32,
    Int64,
    /// <summary>float8: read in binary during the snapshot.</summary>
    Float64,
    /// <summary>float4: always read from its text form so snapshot and stream agree on the double value.</summary>
    Float32,
    Bool,
    /// <summary>timestamp without time zone: the wall clock read as UTC.</summary>
    Timestamp,
    TimestampTz,
    Date,
    /// <summary>bytea: <c>\x</c> hex text becomes base64.</summary>
    Bytea,
    /// <summary>Any array: PostgreSQL's array literal becomes JSON text.</summary>
    Array,
}

/// <summary>One column of a captured table.</summary>
internal sealed record PgColumn(string Name, uint TypeOid, int TypeMod, string PgType, PgConv Conv, char ElementCategory)
{
    public ColumnKind Kind => PgTypes.KindOf(Conv);
}

/// <summary>
/// The type mapping of the CDC source (see the project README): int2/int4 → int32; int8/oid → int64;
/// float4/float8 → float64; bool; timestamp/timestamptz → timestamp (µs, UTC; infinity = DateTime.MaxValue);
/// date; numeric, text, varchar, uuid, json, jsonb and unmapped types → their exact PostgreSQL text;
/// arrays → JSON text; bytea → base64.
/// </summary>
internal static class PgTypes
{
    public static readonly long MaxMicros = (DateTime.MaxValue.Ticks - DateTime.UnixEpoch.Ticks) / 10;
    public static readonly long MinMicros = (DateTime.MinValue.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    public static PgConv ConvOf(uint oid, char category) => oid switch
    {
        16 => PgConv.Bool,
        21 or 23 => PgConv.Int32,
        20 or 26 => PgConv.Int64,
        700 => PgConv.Float32,
        701 => PgConv.Float64,
        1114 => PgConv.Timestamp,
        1184 => PgConv.TimestampTz,
        1082 => PgConv.Date,
        17 => PgConv.Bytea,
        _ => category == 'A' ? PgConv.Array : PgConv.Text,
    };

    public static ColumnKind KindOf(PgConv conv) => conv switch
    {
        PgConv.Int32 => ColumnKind.Int32,
        PgConv.Int64 => ColumnKind.Int64,
        PgConv.Float64 or PgConv.Float32 => ColumnKind.Float64,
        PgConv.Bool => ColumnKind.Bool,
        PgConv.Timestamp or PgConv.TimestampTz => ColumnKind.Timestamp,
        PgConv.Date => ColumnKind.Date,
        _ => ColumnKind.String,
    };

    /// <summary>Appends a value given in PostgreSQL's text output form to column builder <paramref name="b"/>.</summary>
    public static void AppendText(ColumnBuilder b, PgColumn col, string text)
    {
        switch (col.Conv)
        {
            case PgConv.Int32 when b.Kind == ColumnKind.Int32: b.AppendInt32(int.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)); return;
            case PgConv.Int32 or PgConv.Int64 when b.Kind == ColumnKind.Int64: b.AppendInt64(long.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)); return;
            case PgConv.Float32 or PgConv.Float64 when b.Kind == ColumnKind.Float64: b.AppendDouble(ParseDouble(text)); return;
            case PgConv.Bool when b.Kind == ColumnKind.Bool: b.AppendBool(text == "t"); return;
            case PgConv.Timestamp or PgConv.TimestampTz when b.Kind == ColumnKind.Timestamp: b.AppendInt64(ParseTimestamp(text)); return;
            case PgConv.Date when b.Kind == ColumnKind.Date: b.AppendInt32(ParseDate(text)); return;
        }
        if (b.Kind != ColumnKind.String) throw new InvalidOperationException($"column {col.Name} ({col.PgType}) cannot be stored as {ColumnTypes.Name(b.Kind)}");
        b.AppendString(ToStringValue(col, text));
    }

    /// <summary>The string a String column holds for this text (arrays → JSON, bytea → base64, timestamps → ISO).</summary>
    public static string ToStringValue(PgColumn col, string text) => col.Conv switch
    {
        PgConv.Array => ArrayToJson(text, col.ElementCategory),
        PgConv.Bytea => Convert.ToBase64String(ParseByteaHex(text)),
        PgConv.Timestamp or PgConv.TimestampTz => FormatMicros(ParseTimestamp(text)),
        PgConv.Date => FormatDate(ParseDate(text)),
        PgConv.Bool => text == "t" ? "true" : "false",
        PgConv.Float32 or PgConv.Float64 => FormatDouble(ParseDouble(text)),
        _ => text,
    };

    /// <summary>Writes the value as JSON (numbers and booleans as JSON, everything else as the string form).</summary>
    public static void WriteJson(System.Text.Json.Utf8JsonWriter w, PgColumn col, string text)
    {
        switch (col.Conv)
        {
            case PgConv.Int32 or PgConv.Int64:
                w.WriteRawValue(text, skipInputValidation: true);
                return;
            case PgConv.Float32 or PgConv.Float64:
                var d = ParseDouble(text);
                if (double.IsFinite(d)) w.WriteNumberValue(d);
                else w.WriteStringValue(FormatDouble(d));
                return;
            case PgConv.Bool:
                w.WriteBooleanValue(text == "t");
                return;
            default:
                w.WriteStringValue(ToStringValue(col, text));
                return;
        }
    }

    public static double ParseDouble(string s) => s switch
    {
        "NaN" => double.NaN,
        "Infinity" => double.PositiveInfinity,
        "-Infinity" => double.NegativeInfinity,
        _ => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    public static string FormatDouble(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : d.ToString("R", CultureInfo.InvariantCulture);

    public static long MicrosOf(DateTime dt) =>
        dt == DateTime.MaxValue ? MaxMicros : dt == DateTime.MinValue ? MinMicros : (dt.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    /// <summary>Parses ISO output (<c>YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]]</c>) or <c>±infinity</c> to µs since the epoch.</summary>
    public static long ParseTimestamp(string s) => ParseTimestamp(s.AsSpan());

    /// <summary>As <see cref="ParseTimestamp(string)"/>, over characters.</summary>
    public static long ParseTimestamp(ReadOnlySpan<char> s)
    {
        if (s.SequenceEqual("infinity")) return MaxMicros;
        if (s.SequenceEqual("-infinity")) return MinMicros;
        if (s.EndsWith(" BC", StringComparison.Ordinal) || s.Length < 19 || s[4] != '-')
            throw new FormatException($"timestamp '{s.ToString()}' is outside the range the engine keeps (years 1-9999)");
        var date = new DateTime(Num(s, 0, 4), Num(s, 5, 2), Num(s, 8, 2), Num(s, 11, 2), Num(s, 14, 2), Num(s, 17, 2), DateTimeKind.Utc);
        long micros = (date.Ticks - DateTime.UnixEpoch.Ticks) / 10;
        var i = 19;
        if (i < s.Length && s[i] == '.')
        {
            i++;
            var digits = 0;
            long frac = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                if (digits < 6) { frac = frac * 10 + (s[i] - '0'); digits++; }
                i++;
            }
            for (; digits < 6; digits++) frac *= 10;
            micros += frac;
        }
        if (i < s.Length && (s[i] == '+' || s[i] == '-'))
        {
            var sign = s[i] == '-' ? -1 : 1;
            var off = Num(s, i + 1, 2) * 3600L;
            if (i + 3 < s.Length && s[i + 3] == ':') off += Num(s, i + 4, 2) * 60L;
            if (i + 6 < s.Length && s[i + 6] == ':') off += Num(s, i + 7, 2);
            micros -= sign * off * 1_000_000L;
        }
        return micros;
    }

    public static int ParseDate(string s)
    {
        if (s == "infinity") return DateOnly.MaxValue.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;
        if (s == "-infinity") return DateOnly.MinValue.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;
        if (s.Length != 10 || s[4] != '-') throw new FormatException($"date '{s}' is outside the range the engine keeps (years 1-9999)");
        return new DateOnly(Num(s, 0, 4), Num(s, 5, 2), Num(s, 8, 2)).DayNumber - EpochDay;
    }

    public static readonly int EpochDay = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;

    private static int Num(ReadOnlySpan<char> s, int at, int len)
    {
        var v = 0;
        for (var k = 0; k < len; k++)
        {
            var c = s[at + k];
            if (!char.IsAsciiDigit(c)) throw new FormatException($"unexpected '{c}' in '{s.ToString()}'");
            v = v * 10 + (c - '0');
        }
        return v;
    }

    /// <summary><c>YYYY-MM-DDTHH:MM:SS.ffffffZ</c>, or <c>infinity</c> / <c>-infinity</c>.</summary>
    public static string FormatMicros(long micros)
    {
        if (micros >= MaxMicros) return "infinity";
        if (micros <= MinMicros) return "-infinity";
        var dt = new DateTime(DateTime.UnixEpoch.Ticks + micros * 10, DateTimeKind.Utc);
        return dt.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
    }

    public static string FormatDate(int days)
    {
        var d = DateOnly.FromDayNumber(days + EpochDay);
        if (d == DateOnly.MaxValue) return "infinity";
        if (d == DateOnly.MinValue) return "-infinity";
        return d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
    }

    public static byte[] ParseByteaHex(string s)
    {
        if (!s.StartsWith("\\x", StringComparison.Ordinal)) throw new FormatException("bytea text must be in hex format (bytea_output = hex)");
        return Convert.FromHexString(s.AsSpan(2));
    }

    /// <summary>
    /// PostgreSQL array literal (<c>{1,2,NULL}</c>, <c>{{"a b",c},{d,e}}</c>, optional <c>[l:u]=</c> bounds) → JSON:
    /// elements of numeric category become JSON numbers (NaN/Infinity as strings), booleans true/false, NULL null,
    /// everything else strings holding the element's text.
    /// </summary>
    public static string ArrayToJson(string s, char elementCategory)
    {
        var sb = new StringBuilder(s.Length + 8);
        var i = 0;
        if (s.Length > 0 && s[0] == '[')
        {
            i = s.IndexOf('=', StringComparison.Ordinal) + 1;
            if (i <= 0) throw new FormatException($"malformed array literal '{s}'");
        }
        var token = new StringBuilder();
        var expectValue = true;
        for (; i < s.Length; i++)
        {
            var c = s[i];
            switch (c)
            {
                case '{':
                    sb.Append('[');
                    expectValue = true;
                    break;
                case '}':
                    sb.Append(']');
                    expectValue = false;
                    break;
                case ',':
                    sb.Append(',');
                    expectValue = true;
                    break;
                case ' ' when !expectValue:
                    break;
                case '"':
                {
                    token.Clear();
                    i++;
                    for (; s[i] != '"'; i++)
                    {
                        if (s[i] == '\\') i++;
                        token.Append(s[i]);
                    }
                    AppendElement(sb, token.ToString(), elementCategory, quoted: true);
                    expectValue = false;
                    break;
                }
                default:
                {
                    token.Clear();
                    for (; i < s.Length && s[i] != ',' && s[i] != '}'; i++) token.Append(s[i]);
                    i--;
                    AppendElement(sb, token.ToString().Trim(), elementCategory, quoted: false);
                    expectValue = false;
                    break;
                }
            }
        }
        return sb.ToString();
    }

    private static void AppendElement(StringBuilder sb, string v, char category, bool quoted)
    {
        if (!quoted && v == "NULL")
        {
            sb.Append("null");
            return;
        }
        if (category == 'N' && v is not ("NaN" or "Infinity" or "-Infinity") && v.Length > 0)
        {
            sb.Append(v);
            return;
        }
        if (category == 'B' && v is "t" or "f")
        {
            sb.Append(v == "t" ? "true" : "false");
            return;
        }
        AppendJsonString(sb, v);
    }

    /// <summary>Appends a JSON string literal: escapes quotes, backslashes and control characters, keeps the rest.</summary>
    public static void AppendJsonString(StringBuilder sb, string v)
    {
        sb.Append('"');
        foreach (var ch in v)
        {
            switch (ch)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (ch < ' ') sb.Append("\\u").Append(((int)ch).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(ch);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>JSON array text (as <see cref="ArrayToJson"/> writes it) → PostgreSQL array literal.</summary>
    public static string JsonToArrayLiteral(string json)
    {
        var reader = new System.Text.Json.Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        var sb = new StringBuilder(json.Length + 8);
        var first = true;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case System.Text.Json.JsonTokenType.StartArray:
                    if (!first) sb.Append(',');
                    sb.Append('{');
                    first = true;
                    continue;
                case System.Text.Json.JsonTokenType.EndArray:
                    sb.Append('}');
                    first = false;
                    continue;
            }
            if (!first) sb.Append(',');
            first = false;
            switch (reader.TokenType)
            {
                case System.Text.Json.JsonTokenType.Null: sb.Append("NULL"); break;
                case System.Text.Json.JsonTokenType.True: sb.Append("true"); break;
                case System.Text.Json.JsonTokenType.False: sb.Append("false"); break;
                case System.Text.Json.JsonTokenType.Number: sb.Append(Encoding.UTF8.GetString(reader.ValueSpan)); break;
                default:
                    sb.Append('"');
                    foreach (var ch in reader.GetString()!)
                    {
                        if (ch is '"' or '\\') sb.Append('\\');
                        sb.Append(ch);
                    }
                    sb.Append('"');
                    break;
            }
        }
        return sb.ToString();
    }

    /// <summary>Quotes an SQL identifier.</summary>
    public static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>Quotes <c>schema.table</c>.</summary>
    public static string QuoteQualified(string schema, string table) => Quote(schema) + "." + Quote(table);

    internal static bool TryFormatInvariant(long v, Span<byte> into, out int n) => Utf8Formatter.TryFormat(v, into, out n);
}
