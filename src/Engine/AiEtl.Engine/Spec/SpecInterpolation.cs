using System.Text;
using YamlDotNet.Core;

namespace AiEtl.Engine.Spec;

/// <summary>
/// <c>${ENV_VAR}</c> and <c>${file:/path}</c> in scalar values of a spec, substituted in the parsed YAML tree (not the
/// text), so substituted values cannot change the document's structure and every other node keeps its line and
/// column. <c>$${</c> writes a literal <c>${</c>. Each substituted value is registered as a secret.
/// </summary>
internal static class SpecInterpolation
{
    /// <summary>Largest file a <c>${file:…}</c> reference may read.</summary>
    public const int MaxFileBytes = 1 << 20;

    public static YNode Apply(YNode root, SpecContext ctx, Func<string, string?> environment, SecretRedactor secrets)
    {
        var done = new Dictionary<YNode, YNode>(ReferenceEqualityComparer.Instance);
        return Walk(root, "");

        YNode Walk(YNode node, string path)
        {
            if (done.TryGetValue(node, out var seen)) return seen;
            YNode result;
            switch (node)
            {
                case YScalar s:
                    result = s.Value.Contains("${", StringComparison.Ordinal) ? Substitute(s, path, ctx, environment, secrets) : s;
                    break;
                case YMapping m:
                    for (var i = 0; i < m.Entries.Count; i++)
                    {
                        var e = m.Entries[i];
                        var key = e.Name ?? "?";
                        m.Entries[i] = e with { Value = Walk(e.Value, SpecContext.Child(path, key)) };
                    }
                    result = m;
                    break;
                case YSequence q:
                    for (var i = 0; i < q.Items.Count; i++) q.Items[i] = Walk(q.Items[i], SpecContext.Item(path, i));
                    result = q;
                    break;
                default:
                    result = node;
                    break;
            }
            done[node] = result;
            return result;
        }
    }

    private static YScalar Substitute(YScalar s, string path, SpecContext ctx, Func<string, string?> environment, SecretRedactor secrets)
    {
        var v = s.Value;
        var sb = new StringBuilder(v.Length);
        var ok = true;
        var i = 0;
        while (i < v.Length)
        {
            var at = v.IndexOf("${", i, StringComparison.Ordinal);
            if (at < 0)
            {
                sb.Append(v, i, v.Length - i);
                break;
            }
            if (at > 0 && v[at - 1] == '$')
            {
                // $${ is a literal ${ (the first $ is the escape).
                sb.Append(v, i, at - 1 - i).Append("${");
                i = at + 2;
                continue;
            }
            sb.Append(v, i, at - i);
            var end = v.IndexOf('}', at + 2);
            var pos = PositionOf(s, at);
            if (end < 0)
            {
                ctx.Error(pos, path, "'${' is never closed: write ${NAME} or ${file:/path} (or $${ for a literal ${)");
                ok = false;
                break;
            }
            var reference = v[(at + 2)..end];
            if (Resolve(reference, environment, out var error) is { } value)
            {
                secrets.Add(value);
                sb.Append(value);
            }
            else
            {
                ctx.Error(pos, path, error!);
                ok = false;
            }
            i = end + 1;
        }
        // After an error the original text stays, so the rest of validation still runs (and reports its own problems).
        return ok ? s.Interpolated(sb.ToString()) : s;
    }

    private static string? Resolve(string reference, Func<string, string?> environment, out string? error)
    {
        error = null;
        if (reference.StartsWith("file:", StringComparison.Ordinal))
        {
            var path = reference["file:".Length..].Trim();
            if (path.Length == 0)
            {
                error = "${file:} needs a path: ${file:/run/secrets/name}";
                return null;
            }
            try
            {
                var info = new FileInfo(path);
                if (!info.Exists)
                {
                    error = $"${{file:{path}}}: the file does not exist";
                    return null;
                }
                if (info.Length > MaxFileBytes)
                {
                    error = $"${{file:{path}}}: the file is larger than {MaxFileBytes / 1024} KiB";
                    return null;
                }
                var text = File.ReadAllText(path);
                // Secret files usually end with one line break that is not part of the value.
                if (text.EndsWith("\r\n", StringComparison.Ordinal)) text = text[..^2];
                else if (text.EndsWith('\n')) text = text[..^1];
                return text;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                error = $"${{file:{path}}}: cannot read the file: {(e is UnauthorizedAccessException ? "permission denied" : e.Message)}";
                return null;
            }
        }
        if (!IsVariableName(reference))
        {
            error = $"'${{{reference}}}' is not a variable reference: write ${{NAME}} (letters, digits, _) or ${{file:/path}}";
            return null;
        }
        var env = environment(reference);
        if (env is null)
        {
            error = $"environment variable '{reference}' is not set (referenced as ${{{reference}}})";
            return null;
        }
        return env;
    }

    private static bool IsVariableName(string s) =>
        s.Length > 0 && (char.IsAsciiLetter(s[0]) || s[0] == '_') && s.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>The line and column of offset <paramref name="offset"/> of the value, when the scalar is written on one line as is.</summary>
    private static TextPosition PositionOf(YScalar s, int offset)
    {
        var prefix = s.Value.AsSpan(0, offset);
        if (prefix.Contains('\n')) return s.Start;
        return s.Style switch
        {
            ScalarStyle.Plain => new TextPosition(s.Start.Line, s.Start.Column + offset),
            ScalarStyle.SingleQuoted when !prefix.Contains('\'') => new TextPosition(s.Start.Line, s.Start.Column + 1 + offset),
            ScalarStyle.DoubleQuoted when !prefix.Contains('\\') && !prefix.Contains('"') => new TextPosition(s.Start.Line, s.Start.Column + 1 + offset),
            _ => s.Start,
        };
    }
}
