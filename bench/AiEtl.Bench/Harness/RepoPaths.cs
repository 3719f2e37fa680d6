namespace AiEtl.Bench.Harness;

/// <summary>Finds the repository (the folder holding AiEtl.Engine.sln) so results land in <c>bench/out</c>.</summary>
public static class RepoPaths
{
    public static string? FindRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "AiEtl.Engine.sln"))) return d.FullName;
            }
        }
        return null;
    }

    public static string DefaultOutDirectory()
    {
        var root = FindRoot();
        return root != null
            ? Path.Combine(root, "bench", "out")
            : Path.GetFullPath(Path.Combine("bench", "out"));
    }
}
