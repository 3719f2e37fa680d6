using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace AiEtl.Engine.Spec;

/// <summary>A position in the YAML text, 1-based.</summary>
internal readonly record struct TextPosition(int Line, int Column)
{
    public static TextPosition From(in Mark mark) => new((int)Math.Min(mark.Line, int.MaxValue), (int)Math.Min(mark.Column, int.MaxValue));
    public override string ToString() => $"{Line}:{Column}";
}

/// <summary>
/// A YAML node with the position of its first character. Built from YamlDotNet parser events
/// (not its RepresentationModel) so that duplicate keys and positions survive for error reports.
/// </summary>
internal abstract class YNode
{
    protected YNode(TextPosition start) => Start = start;
    public TextPosition Start { get; }
}

/// <summary>What a scalar means under the YAML 1.2 core schema.</summary>
internal enum ScalarKind { Null, Bool, Int, Float, String }

internal sealed partial class YScalar : YNode
{
    public YScalar(TextPosition start, string value, ScalarStyle style, string? tag) : base(start)
    {
        Value = value;
        Style = style;
        Tag = tag;
        Kind = Resolve(value, style, tag);
    }

    /// <summary>
    /// The scalar after interpolation: same position, style and tag; its kind is what the substituted value means
    /// unquoted (so <c>rows: "${ROWS}"</c> in a flow mapping is an integer), and a string is read from any kind.
    /// </summary>
    public YScalar Interpolated(string value) => new(Start, value, Style, Tag, interpolated: true);

    private YScalar(TextPosition start, string value, ScalarStyle style, string? tag, bool interpolated) : base(start)
    {
        Value = value;
        Style = style;
        Tag = tag;
        IsInterpolated = interpolated;
        Kind = Resolve(value, ScalarStyle.Plain, tag);
    }

    /// <summary>True when the value came from <c>${…}</c> interpolation.</summary>
    public bool IsInterpolated { get; }

    public string? Tag { get; }

    public string Value { get; }
    public ScalarStyle Style { get; }
    public ScalarKind Kind { get; }

    public bool IsNull => Kind == ScalarKind.Null;

    private static ScalarKind Resolve(string value, ScalarStyle style, string? tag)
    {
        switch (tag)
        {
            case "tag:yaml.org,2002:str": return ScalarKind.String;
            case "tag:yaml.org,2002:null": return ScalarKind.Null;
            case "tag:yaml.org,2002:bool": return ScalarKind.Bool;
            case "tag:yaml.org,2002:int": return ScalarKind.Int;
            case "tag:yaml.org,2002:float": return ScalarKind.Float;
        }
        if (style != ScalarStyle.Plain) return ScalarKind.String;
        if (value.Length == 0 || value is "~" or "null" or "Null" or "NULL") return ScalarKind.Null;
        if (value is "true" or "True" or "TRUE" or "false" or "False" or "FALSE") return ScalarKind.Bool;
        if (IntPattern().IsMatch(value)) return ScalarKind.Int;
        if (FloatPattern().IsMatch(value)) return ScalarKind.Float;
        return ScalarKind.String;
    }

    public bool TryGetBool(out bool value)
    {
        value = Kind == ScalarKind.Bool && Value.Equals("true", StringComparison.OrdinalIgnoreCase);
        return Kind == ScalarKind.Bool;
    }

    /// <summary>An integer, or a number with no fraction (<c>1e6</c>) that fits exactly.</summary>
    public bool TryGetInt64(out long value)
    {
        value = 0;
        if (Kind == ScalarKind.Int)
        {
            var s = Value;
            var negative = false;
            if (s[0] is '+' or '-') { negative = s[0] == '-'; s = s[1..]; }
            if (s.StartsWith("0x", StringComparison.Ordinal))
            {
                if (!ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var u) || u > long.MaxValue) return false;
                value = negative ? -(long)u : (long)u;
                return true;
            }
            if (s.StartsWith("0o", StringComparison.Ordinal))
            {
                ulong acc = 0;
                foreach (var c in s.AsSpan(2))
                {
                    if (acc > (ulong)long.MaxValue >> 3) return false;
                    acc = (acc << 3) | (uint)(c - '0');
                }
                if (acc > long.MaxValue) return false;
                value = negative ? -(long)acc : (long)acc;
                return true;
            }
            return long.TryParse(Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
        }
        if (Kind == ScalarKind.Float && TryGetDouble(out var d) && Math.Abs(d) <= 9007199254740992d && Math.Floor(d) == d)
        {
            value = (long)d;
            return true;
        }
        return false;
    }

    public bool TryGetDouble(out double value)
    {
        value = 0;
        if (Kind is not (ScalarKind.Int or ScalarKind.Float)) return false;
        switch (Value.TrimStart('+'))
        {
            case ".inf" or ".Inf" or ".INF": value = double.PositiveInfinity; return true;
            case "-.inf" or "-.Inf" or "-.INF": value = double.NegativeInfinity; return true;
            case ".nan" or ".NaN" or ".NAN": value = double.NaN; return true;
        }
        if (Kind == ScalarKind.Int && TryGetInt64(out var l)) { value = l; return true; }
        return double.TryParse(Value, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    [GeneratedRegex(@"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\z", RegexOptions.CultureInvariant)]
    private static partial Regex IntPattern();

    [GeneratedRegex(@"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\z", RegexOptions.CultureInvariant)]
    private static partial Regex FloatPattern();
}

internal sealed class YSequence(TextPosition start) : YNode(start)
{
    public List<YNode> Items { get; } = [];
}

internal readonly record struct YEntry(YNode Key, YNode Value)
{
    /// <summary>The key's text when the key is a scalar (every key in a pipeline spec is).</summary>
    public string? Name => Key is YScalar s ? s.Value : null;
}

internal sealed class YMapping(TextPosition start) : YNode(start)
{
    public List<YEntry> Entries { get; } = [];
}

/// <summary>Problems found while building the tree (syntax errors stop it; alias problems do not).</summary>
internal readonly record struct YamlProblem(TextPosition Position, string Message);

internal static class YamlTree
{
    /// <summary>
    /// Parses one YAML document. Returns null (with <paramref name="syntaxError"/>) on a syntax error,
    /// or null with no error for an empty stream.
    /// </summary>
    public static YNode? Parse(string text, List<YamlProblem> problems, out bool syntaxError)
    {
        syntaxError = false;
        var scanner = new Scanner(new StringReader(text), skipComments: true);
        var parser = new Parser(scanner);
        var anchors = new Dictionary<string, YNode>(StringComparer.Ordinal);
        var stack = new Stack<(YNode Node, YNode? PendingKey, string? Anchor)>();
        var flowOpeners = new Stack<(TextPosition Position, char Bracket)>();
        YNode? root = null;
        var documents = 0;
        try
        {
            while (parser.MoveNext())
            {
                var ev = parser.Current!;
                switch (ev)
                {
                    case DocumentStart ds:
                        documents++;
                        if (documents == 2)
                        {
                            problems.Add(new YamlProblem(TextPosition.From(ds.Start), "a pipeline file holds one YAML document; found a second one"));
                        }
                        break;
                    case Scalar s:
                        Add(new YScalar(TextPosition.From(s.Start), s.Value, s.Style, s.Tag.IsEmpty || s.Tag.IsNonSpecific ? null : s.Tag.Value), AnchorOf(s.Anchor));
                        break;
                    case AnchorAlias alias:
                        if (anchors.TryGetValue(alias.Value.Value, out var target))
                        {
                            Add(target, null);
                        }
                        else
                        {
                            var pos = TextPosition.From(alias.Start);
                            problems.Add(new YamlProblem(pos, $"unknown anchor '*{alias.Value.Value}'"));
                            Add(new YScalar(pos, "", ScalarStyle.Plain, null), null);
                        }
                        break;
                    case SequenceStart ss:
                        if (ss.Style == SequenceStyle.Flow) flowOpeners.Push((TextPosition.From(ss.Start), '['));
                        stack.Push((new YSequence(TextPosition.From(ss.Start)), null, AnchorOf(ss.Anchor)));
                        break;
                    case MappingStart ms:
                        if (ms.Style == MappingStyle.Flow) flowOpeners.Push((TextPosition.From(ms.Start), '{'));
                        stack.Push((new YMapping(TextPosition.From(ms.Start)), null, AnchorOf(ms.Anchor)));
                        break;
                    case SequenceEnd or MappingEnd:
                    {
                        var (node, _, anchor) = stack.Pop();
                        if (flowOpeners.Count > 0 && flowOpeners.Peek().Position == node.Start) flowOpeners.Pop();
                        Add(node, anchor);
                        break;
                    }
                }
            }
        }
        catch (YamlException ex)
        {
            syntaxError = true;
            problems.Add(SyntaxProblem(text, ex));
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner can fail this way inside an unclosed flow collection.
            syntaxError = true;
            var here = TextPosition.From(scanner.CurrentPosition);
            problems.Add(flowOpeners.Count > 0
                ? new YamlProblem(flowOpeners.Peek().Position, $"'{flowOpeners.Peek().Bracket}' is never closed")
                : new YamlProblem(here, "invalid YAML syntax"));
            return null;
        }
        return root;

        void Add(YNode node, string? anchor)
        {
            if (anchor is not null) anchors[anchor] = node;
            if (stack.Count == 0)
            {
                root ??= node;
                return;
            }
            var (parent, pendingKey, parentAnchor) = stack.Pop();
            switch (parent)
            {
                case YSequence seq:
                    seq.Items.Add(node);
                    stack.Push((parent, null, parentAnchor));
                    break;
                case YMapping when pendingKey is null:
                    stack.Push((parent, node, parentAnchor));
                    break;
                case YMapping map:
                    map.Entries.Add(new YEntry(pendingKey, node));
                    stack.Push((parent, null, parentAnchor));
                    break;
            }
        }

        static string? AnchorOf(AnchorName name) => name.IsEmpty ? null : name.Value;
    }

    private static YamlProblem SyntaxProblem(string text, YamlException ex)
    {
        var message = ex.Message;
        // YamlDotNet reports a tab in indentation at the start of the enclosing mapping: point at the tab.
        if (message.Contains("tab", StringComparison.OrdinalIgnoreCase))
        {
            var lines = text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var indent = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
                var tab = lines[i].AsSpan(0, indent).IndexOf('\t');
                if (tab >= 0) return new YamlProblem(new TextPosition(i + 1, tab + 1), "tabs are not allowed in YAML indentation; use spaces");
            }
        }
        var start = TextPosition.From(ex.Start);
        if (start.Line < 1) start = new TextPosition(1, 1);
        return new YamlProblem(start, "YAML syntax error: " + Lowercase(message.TrimEnd('.')));
    }

    private static string Lowercase(string s) => s.Length > 0 && char.IsUpper(s[0]) && (s.Length == 1 || !char.IsUpper(s[1])) ? char.ToLowerInvariant(s[0]) + s[1..] : s;
}
