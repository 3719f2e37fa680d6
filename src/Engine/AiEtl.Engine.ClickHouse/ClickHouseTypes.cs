using System.Globalization;
using System.Text;

namespace AiEtl.Engine.ClickHouse;

/// <summary>The ClickHouse column types the sink understands (everything else is <see cref="Other"/>).</summary>
internal enum ChKind
{
    Other,
    Int8, Int16, Int32, Int64,
    UInt8, UInt16, UInt32, UInt64,
    Float32, Float64,
    Bool,
    String, FixedString,
    Date, Date32, DateTime, DateTime64,
    Decimal,
    Nullable, LowCardinality, Array,
}

/// <summary>
/// A parsed ClickHouse type, e.g. <c>Nullable(DateTime64(6, 'UTC'))</c>. <see cref="Text"/> is the type as the
/// server spells it (sent back in Native block headers, which must match the table exactly on old servers).
/// </summary>
internal sealed class ChType
{
    private ChType(ChKind kind, string text)
    {
        Kind = kind;
        Text = text;
    }

    public ChKind Kind { get; }
    public string Text { get; }
    /// <summary>The element of Nullable / LowCardinality / Array.</summary>
    public ChType? Inner { get; private init; }
    public int Precision { get; private init; }
    /// <summary>Decimal scale, or DateTime64 precision (digits of the fraction).</summary>
    public int Scale { get; private init; }
    /// <summary>FixedString length in bytes.</summary>
    public int Length { get; private init; }
    public string? TimeZone { get; private init; }

    public bool IsNullable => Kind == ChKind.Nullable || (Kind == ChKind.LowCardinality && Inner!.Kind == ChKind.Nullable);

    /// <summary>The type without Nullable and LowCardinality wrappers.</summary>
    public ChType Base => Kind is ChKind.Nullable or ChKind.LowCardinality ? Inner!.Base : this;

    public override string ToString() => Text;

    public static ChType Parse(string text)
    {
        var pos = 0;
        var t = ParseAt(text, ref pos);
        SkipSpace(text, ref pos);
        if (pos != text.Length) throw new FormatException($"unexpected '{text[pos..]}' after ClickHouse type in '{text}'");
        return t;
    }

    private static ChType ParseAt(string s, ref int pos)
    {
        SkipSpace(s, ref pos);
        var start = pos;
        while (pos < s.Length && (char.IsAsciiLetterOrDigit(s[pos]) || s[pos] == '_')) pos++;
        if (pos == start) throw new FormatException($"expected a type name at {start} in '{s}'");
        var name = s[start..pos];
        SkipSpace(s, ref pos);
        var hasArgs = pos < s.Length && s[pos] == '(';
        ChType result;
        switch (name)
        {
            case "Nullable" or "LowCardinality" or "Array" when hasArgs:
            {
                pos++;
                var inner = ParseAt(s, ref pos);
                Expect(s, ref pos, ')');
                var kind = name switch { "Nullable" => ChKind.Nullable, "LowCardinality" => ChKind.LowCardinality, _ => ChKind.Array };
                result = new ChType(kind, s[start..pos]) { Inner = inner };
                return result;
            }
            case "Decimal" when hasArgs:
            {
                pos++;
                var p = Int(s, ref pos);
                Expect(s, ref pos, ',');
                var sc = Int(s, ref pos);
                Expect(s, ref pos, ')');
                return new ChType(ChKind.Decimal, s[start..pos]) { Precision = p, Scale = sc };
            }
            case "Decimal32" or "Decimal64" or "Decimal128" or "Decimal256" when hasArgs:
            {
                pos++;
                var sc = Int(s, ref pos);
                Expect(s, ref pos, ')');
                var p = name switch { "Decimal32" => 9, "Decimal64" => 18, "Decimal128" => 38, _ => 76 };
                return new ChType(ChKind.Decimal, s[start..pos]) { Precision = p, Scale = sc };
            }
            case "FixedString" when hasArgs:
            {
                pos++;
                var n = Int(s, ref pos);
                Expect(s, ref pos, ')');
                return new ChType(ChKind.FixedString, s[start..pos]) { Length = n };
            }
            case "DateTime":
            {
                string? tz = null;
                if (hasArgs)
                {
                    pos++;
                    tz = Quoted(s, ref pos);
                    Expect(s, ref pos, ')');
                }
                return new ChType(ChKind.DateTime, s[start..pos]) { TimeZone = tz };
            }
            case "DateTime64" when hasArgs:
            {
                pos++;
                var p = Int(s, ref pos);
                string? tz = null;
                SkipSpace(s, ref pos);
                if (pos < s.Length && s[pos] == ',')
                {
                    pos++;
                    tz = Quoted(s, ref pos);
                }
                Expect(s, ref pos, ')');
                return new ChType(ChKind.DateTime64, s[start..pos]) { Scale = p, TimeZone = tz };
            }
        }
        if (hasArgs) SkipBalanced(s, ref pos);
        var simple = hasArgs ? ChKind.Other : name switch
        {
            "Int8" => ChKind.Int8, "Int16" => ChKind.Int16, "Int32" => ChKind.Int32, "Int64" => ChKind.Int64,
            "UInt8" => ChKind.UInt8, "UInt16" => ChKind.UInt16, "UInt32" => ChKind.UInt32, "UInt64" => ChKind.UInt64,
            "Float32" => ChKind.Float32, "Float64" => ChKind.Float64,
            "Bool" or "Boolean" => ChKind.Bool,
            "String" => ChKind.String,
            "Date" => ChKind.Date, "Date32" => ChKind.Date32,
            _ => ChKind.Other,
        };
        return new ChType(simple, s[start..pos]);
    }

    private static void SkipSpace(string s, ref int pos)
    {
        while (pos < s.Length && s[pos] == ' ') pos++;
    }

    private static void Expect(string s, ref int pos, char c)
    {
        SkipSpace(s, ref pos);
        if (pos >= s.Length || s[pos] != c) throw new FormatException($"expected '{c}' at {pos} in '{s}'");
        pos++;
    }

    private static int Int(string s, ref int pos)
    {
        SkipSpace(s, ref pos);
        var start = pos;
        while (pos < s.Length && char.IsAsciiDigit(s[pos])) pos++;
        if (start == pos) throw new FormatException($"expected a number at {start} in '{s}'");
        return int.Parse(s.AsSpan(start, pos - start), CultureInfo.InvariantCulture);
    }

    private static string Quoted(string s, ref int pos)
    {
        SkipSpace(s, ref pos);
        if (pos >= s.Length || s[pos] != '\'') throw new FormatException($"expected a quoted string at {pos} in '{s}'");
        pos++;
        var sb = new StringBuilder();
        while (pos < s.Length && s[pos] != '\'')
        {
            if (s[pos] == '\\' && pos + 1 < s.Length) pos++;
            sb.Append(s[pos++]);
        }
        if (pos >= s.Length) throw new FormatException($"unterminated string in '{s}'");
        pos++;
        return sb.ToString();
    }

    private static void SkipBalanced(string s, ref int pos)
    {
        var depth = 0;
        var quoted = false;
        for (; pos < s.Length; pos++)
        {
            var c = s[pos];
            if (quoted)
            {
                if (c == '\\') pos++;
                else if (c == '\'') quoted = false;
                continue;
            }
            if (c == '\'') quoted = true;
            else if (c == '(') depth++;
            else if (c == ')' && --depth == 0)
            {
                pos++;
                return;
            }
        }
        throw new FormatException($"unbalanced parentheses in '{s}'");
    }
}

/// <summary>A server version (<c>SELECT version()</c>) and the features the sink gates on it.</summary>
internal readonly record struct ServerVersion(int Major, int Minor, int Patch)
{
    public static ServerVersion Parse(string text)
    {
        var parts = text.Trim().Split('.');
        int At(int i) => i < parts.Length && int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0;
        if (parts.Length < 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out _))
            throw new FormatException($"cannot parse ClickHouse version '{text}'");
        return new ServerVersion(At(0), At(1), At(2));
    }

    public bool AtLeast(int major, int minor) => Major > major || (Major == major && Minor >= minor);

    /// <summary>DateTime64 arrived in 20.1.</summary>
    public bool HasDateTime64 => AtLeast(20, 1);
    /// <summary>Date32 arrived in 21.9.</summary>
    public bool HasDate32 => AtLeast(21, 9);
    /// <summary><c>mutations_sync</c> for ALTER … DELETE (and <c>system.mutations.latest_fail_reason</c>).</summary>
    public bool HasMutationsSync => AtLeast(20, 3);
    /// <summary>Lightweight <c>DELETE FROM</c> without experimental settings arrived in 23.3.</summary>
    public bool HasLightweightDelete => AtLeast(23, 3);
    /// <summary>The <c>is_deleted</c> argument of ReplacingMergeTree arrived in 23.2.</summary>
    public bool HasReplacingIsDeleted => AtLeast(23, 2);
    /// <summary>LowCardinality needs <c>allow_experimental_low_cardinality_type</c> before 19.x.</summary>
    public bool LowCardinalityIsExperimental => !AtLeast(19, 0);

    public override string ToString() => $"{Major}.{Minor}.{Patch}";
}
