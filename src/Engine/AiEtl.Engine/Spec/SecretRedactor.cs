using System.Text.RegularExpressions;

namespace AiEtl.Engine.Spec;

/// <summary>
/// The secret strings a spec carries — every value that came from <c>${ENV}</c> / <c>${file:…}</c> interpolation and
/// every field that is secret by nature (passwords, SASL and key passwords, private keys) — and the one function that
/// scrubs them from text before it is printed, logged, written as a dead letter or raised as an error.
/// </summary>
/// <remarks>
/// Redaction replaces each secret by <c>***</c> wherever it occurs (longest first, ordinal). Values shorter than
/// <see cref="MinLength"/> characters are not scrubbed from free text (replacing every "1" would garble messages);
/// the connectors never print secret fields themselves. <c>Password=…</c> pairs of connection strings and
/// <c>user:password@</c> in URLs are masked whatever their value.
/// </remarks>
public sealed partial class SecretRedactor
{
    /// <summary>What a secret is replaced with.</summary>
    public const string Mask = "***";

    /// <summary>Shortest value scrubbed from free text.</summary>
    public const int MinLength = 3;

    private readonly HashSet<string> _secrets = new(StringComparer.Ordinal);
    private string[] _ordered = [];

    /// <summary>A redactor with no secrets (still masks <c>Password=</c> pairs and URL credentials).</summary>
    public static SecretRedactor None { get; } = new();

    /// <summary>The number of secrets registered.</summary>
    public int Count => _secrets.Count;

    /// <summary>True when <paramref name="value"/> is a registered secret.</summary>
    public bool Contains(string value) => _secrets.Contains(value);

    /// <summary>Registers a secret (and each of its lines, so a multi-line PEM key is scrubbed line by line too).</summary>
    public void Add(string? value)
    {
        if (ReferenceEquals(this, None)) throw new InvalidOperationException("SecretRedactor.None is shared; create a new redactor");
        if (string.IsNullOrEmpty(value)) return;
        var added = false;
        foreach (var v in Candidates(value))
        {
            if (v.Length >= MinLength) added |= _secrets.Add(v);
        }
        if (added) _ordered = [.. _secrets.OrderByDescending(s => s.Length)];
    }

    private static IEnumerable<string> Candidates(string value)
    {
        yield return value;
        var trimmed = value.Trim();
        if (trimmed != value) yield return trimmed;
        if (value.Contains('\n', StringComparison.Ordinal))
        {
            foreach (var line in value.Split('\n'))
            {
                var l = line.Trim();
                // PEM armour lines (-----BEGIN …-----) are not secret and would mask every certificate.
                if (!l.StartsWith("-----", StringComparison.Ordinal)) yield return l;
            }
        }
    }

    /// <summary>The text with every secret, <c>Password=…</c> pair and URL credential replaced by <see cref="Mask"/>.</summary>
    public string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        var result = text;
        foreach (var s in _ordered)
        {
            if (result.Contains(s, StringComparison.Ordinal)) result = result.Replace(s, Mask, StringComparison.Ordinal);
        }
        if (result.Contains("assword", StringComparison.OrdinalIgnoreCase)) result = PasswordPair().Replace(result, "${key}=" + Mask);
        if (result.Contains('@', StringComparison.Ordinal)) result = UrlCredentials().Replace(result, "${scheme}://${user}:" + Mask + "@");
        return result;
    }

    /// <summary><c>Password=…</c> / <c>sslpassword=…</c> in a connection string, up to the next <c>;</c>.</summary>
    [GeneratedRegex(@"(?<key>\b(?:ssl\s*)?password)\s*=\s*(?:'[^']*'|""[^""]*""|[^;\s]*)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PasswordPair();

    [GeneratedRegex(@"(?<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?<user>[^:/@\s]+):[^@/\s]+@", RegexOptions.CultureInvariant)]
    private static partial Regex UrlCredentials();

    /// <summary>
    /// True for a setting name that holds a secret by nature: <c>password</c>, <c>sasl.password</c>,
    /// <c>ssl.key.password</c>, <c>ssl.key.pem</c>, <c>sasl.oauthbearer.client.secret</c>, …
    /// </summary>
    public static bool IsSecretKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var k = key.ToLowerInvariant();
        return k.Contains("password", StringComparison.Ordinal) || k.Contains("secret", StringComparison.Ordinal)
            || k.EndsWith(".key.pem", StringComparison.Ordinal) || k is "ssl.key.pem" or "ssl_key_pem" || k.Contains("token", StringComparison.Ordinal)
            || k.EndsWith("api_key", StringComparison.Ordinal) || k.EndsWith("apikey", StringComparison.Ordinal);
    }

    /// <summary>The values of the secret keys of an Npgsql / ADO.NET connection string (<c>Password</c>, <c>SSL Password</c>).</summary>
    public static IEnumerable<string> ConnectionStringSecrets(string? connectionString)
    {
        if (string.IsNullOrEmpty(connectionString)) yield break;
        foreach (Match m in PasswordPair().Matches(connectionString))
        {
            var v = m.Value[(m.Value.IndexOf('=', StringComparison.Ordinal) + 1)..].Trim().Trim('\'', '"');
            if (v.Length > 0) yield return v;
        }
    }
}
