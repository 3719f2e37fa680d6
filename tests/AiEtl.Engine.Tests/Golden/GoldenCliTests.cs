using AiEtl.Engine.Tests.Support;

namespace AiEtl.Engine.Tests.Golden;

/// <summary>
/// A handful of golden cases through the <c>aietl</c> executable itself (<c>aietl run --no-progress spec.yaml</c>
/// in a child process): the output file and the dead-letter file must equal the same expected files the in-process
/// suite checks.
/// </summary>
public sealed class GoldenCliTests
{
    public static TheoryData<string> Cases { get; } = new(
        "project/select-star",
        "agg/group-by-customer",
        "window/tumble-1m",
        "window/session-30s",
        "errors/division-by-zero",
        "decode/bad-json-lines",
        "late/tumble-late-rows");

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Aietl_run_gives_the_expected_output(string name)
    {
        var c = GoldenCase.Load(name);
        using var dir = new TempDir();
        var spec = dir.Write("pipeline.yaml", c.SpecYaml(dir.File("out.jsonl"), dir.File("dead.jsonl")));
        var (exit, _, stderr) = await Cli.RunAsync(dir.Path, TimeSpan.FromSeconds(120), "run", "--no-progress", spec);
        Assert.True(exit == 0, stderr);
        GoldenSqlTests.AssertSameLines(GoldenCase.ReadLines(c.ExpectedPath), GoldenCase.ReadLines(dir.File("out.jsonl")), $"{name} (aietl run): rows");
        GoldenSqlTests.AssertSameLines(File.Exists(c.DeadPath) ? GoldenCase.ReadLines(c.DeadPath) : [], GoldenCase.ReadDeadLetters(dir.File("dead.jsonl")),
            $"{name} (aietl run): dead letters");
    }
}
