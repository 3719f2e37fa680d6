using System.Text;

namespace AiEtl.Engine.Tests.Golden;

/// <summary>
/// The golden SQL suite (tests/golden): every case runs end to end in this process through the code path of
/// <c>aietl run</c> (spec file → planner → JSON-lines file source → SQL → JSON-lines sink, dead letters to their
/// file); the sink's lines must equal the case's expected file and the dead letters its dead-letter file, both
/// compared as sorted lines (the suite's row order). Cases not marked hand-checked also run in DuckDB on the same
/// input (same SQL, or the case's DuckDB spelling) and must give the same rows. Regenerate expected files with
/// <c>AIETL_GOLDEN_REGEN=1</c> (DuckDB-checked cases are written only when DuckDB agrees).
/// </summary>
public sealed class GoldenSqlTests(GoldenDuckDb duck) : IClassFixture<GoldenDuckDb>
{
    public static TheoryData<string> Cases { get; } = new(GoldenCase.All().Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Case(string name)
    {
        var c = GoldenCase.Load(name);
        var (rows, dead) = await c.RunInProcessAsync(TestContext.Current.CancellationToken);

        if (c.HandChecked == null)
        {
            var (duckNames, duckRows) = duck.Query(c.Input, c.DuckDbSql);
            var (names, canonical) = GoldenDuckDb.FromJsonLines(rows);
            if (rows.Count > 0)
            {
                Assert.Equal(duckNames.Count, names.Count);
                // DuckDB names unaliased calls differently (count_star(), upper(name)); aliases and plain columns must agree.
                foreach (var (engineName, duckName) in names.Zip(duckNames))
                    if (!duckName.Contains('(', StringComparison.Ordinal) && duckName != "?column?") Assert.Equal(duckName, engineName);
            }
            AssertSameLines(duckRows, canonical, $"{name}: engine vs DuckDB");
        }

        if (GoldenCase.Regenerate)
        {
            await File.WriteAllTextAsync(c.ExpectedPath, Lines(rows), TestContext.Current.CancellationToken);
            if (dead.Count > 0) await File.WriteAllTextAsync(c.DeadPath, Lines(dead), TestContext.Current.CancellationToken);
            else File.Delete(c.DeadPath);
            return;
        }
        Assert.True(File.Exists(c.ExpectedPath), $"{c.ExpectedPath} is missing (generate it with AIETL_GOLDEN_REGEN=1, then check it)");
        AssertSameLines(GoldenCase.ReadLines(c.ExpectedPath), rows, $"{name}: expected rows");
        AssertSameLines(File.Exists(c.DeadPath) ? GoldenCase.ReadLines(c.DeadPath) : [], dead, $"{name}: expected dead letters");
    }

    [Fact]
    public void The_suite_has_at_least_150_cases_and_every_hand_checked_one_says_why()
    {
        var all = GoldenCase.All();
        Assert.True(all.Count >= 150, $"{all.Count} golden cases");
        Assert.All(all.Where(c => c.HandChecked != null), c => Assert.True(c.HandChecked!.Length >= 10, $"{c.Name}: reason too short"));
        // Most of the suite is checked against an independent engine.
        Assert.True(all.Count(c => c.HandChecked == null) * 2 > all.Count);
    }

    [Fact]
    public void Every_file_under_cases_belongs_to_a_case()
    {
        var names = GoldenCase.All().Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(GoldenCase.CasesDir, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(GoldenCase.CasesDir, file).Replace('\\', '/');
            var stem = rel.Split('.')[0];
            Assert.True(names.Contains(stem), $"{rel} belongs to no case");
        }
    }

    private static string Lines(List<string> lines)
    {
        var sb = new StringBuilder();
        foreach (var l in lines) sb.Append(l).Append('\n');
        return sb.ToString();
    }

    internal static void AssertSameLines(List<string> expected, List<string> actual, string what)
    {
        if (expected.SequenceEqual(actual, StringComparer.Ordinal)) return;
        var missing = expected.Except(actual, StringComparer.Ordinal).Take(5).ToList();
        var extra = actual.Except(expected, StringComparer.Ordinal).Take(5).ToList();
        Assert.Fail($"{what}: {expected.Count} lines expected, {actual.Count} produced\n  missing: {string.Join("\n           ", missing)}\n  extra:   {string.Join("\n           ", extra)}");
    }
}
