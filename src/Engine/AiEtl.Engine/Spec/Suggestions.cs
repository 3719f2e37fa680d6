namespace AiEtl.Engine.Spec;

/// <summary>"Did you mean …?" hints by edit distance.</summary>
internal static class Suggestions
{
    /// <summary>The candidate closest to <paramref name="input"/>, if it is close enough to be a likely typo.</summary>
    public static string? Closest(string input, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var d = Distance(input.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (d < bestDistance)
            {
                best = candidate;
                bestDistance = d;
            }
        }
        if (best is null) return null;
        var limit = Math.Max(1, Math.Min(3, best.Length / 3));
        if (bestDistance <= limit) return best;
        // A truncated or extended key (max_out_of_order, batch_size_rows) is also a likely typo.
        var a = input.ToLowerInvariant();
        var b = best.ToLowerInvariant();
        return a.Length >= 4 && b.Length >= 4 && (a.StartsWith(b, StringComparison.Ordinal) || b.StartsWith(a, StringComparison.Ordinal)) ? best : null;
    }

    /// <summary>" did you mean 'x'?" or "; expected one of: a, b, c".</summary>
    public static string Hint(string input, IReadOnlyCollection<string> candidates)
    {
        var closest = Closest(input, candidates);
        if (closest is not null) return $"; did you mean '{closest}'?";
        return candidates.Count == 0 ? "" : $"; expected one of: {string.Join(", ", candidates)}";
    }

    /// <summary>Optimal string alignment distance (Levenshtein plus adjacent transpositions).</summary>
    internal static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                var v = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) v = Math.Min(v, d[i - 2, j - 2] + 1);
                d[i, j] = v;
            }
        }
        return d[a.Length, b.Length];
    }
}
