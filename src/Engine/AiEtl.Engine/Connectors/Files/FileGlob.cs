using System.Text;
using System.Text.RegularExpressions;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>
/// Expands a file path or glob into a sorted list of files. Wildcards: <c>*</c> and <c>?</c> within one path
/// segment, <c>**</c> for any number of directories. Results are full paths in ordinal order, so every run and
/// every reader sees the same file indices.
/// </summary>
public static class FileGlob
{
    public static bool HasWildcards(string path) => path.AsSpan().IndexOfAny('*', '?') >= 0;

    public static IReadOnlyList<string> Expand(string pattern)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        var full = Path.GetFullPath(pattern).Replace('\\', '/');
        if (!HasWildcards(full)) return File.Exists(full) ? [full] : [];
        var segments = full.Split('/');
        var fixedCount = 0;
        while (fixedCount < segments.Length && !HasWildcards(segments[fixedCount])) fixedCount++;
        var baseDir = string.Join('/', segments, 0, fixedCount);
        if (baseDir.Length == 0) baseDir = "/";
        if (!Directory.Exists(baseDir)) return [];
        var rest = segments.AsSpan(fixedCount);
        var regex = new StringBuilder("^");
        for (var i = 0; i < rest.Length; i++)
        {
            var seg = rest[i];
            var last = i == rest.Length - 1;
            if (seg == "**")
            {
                regex.Append(last ? ".*" : "(?:[^/]+/)*");
                continue;
            }
            foreach (var ch in seg)
            {
                regex.Append(ch switch
                {
                    '*' => "[^/]*",
                    '?' => "[^/]",
                    _ => Regex.Escape(ch.ToString()),
                });
            }
            if (!last) regex.Append('/');
        }
        regex.Append('$');
        var re = new Regex(regex.ToString(), RegexOptions.CultureInvariant);
        var recursive = rest.Length > 1 || rest[0] == "**";
        var files = new List<string>();
        var prefix = baseDir.EndsWith('/') ? baseDir : baseDir + "/";
        foreach (var f in Directory.EnumerateFiles(baseDir, "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly))
        {
            var p = f.Replace('\\', '/');
            if (re.IsMatch(p[prefix.Length..])) files.Add(p);
        }
        files.Sort(StringComparer.Ordinal);
        return files;
    }
}
