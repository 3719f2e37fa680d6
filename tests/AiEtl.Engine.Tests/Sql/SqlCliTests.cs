using AiEtl.Engine.Tests.Support;

namespace AiEtl.Engine.Tests.Sql;

/// <summary>SQL transforms through the <c>aietl</c> executable: validate, explain and run.</summary>
public sealed class SqlCliTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Spec(string sql) => _dir.Write("pipeline.yaml", $$"""
        name: sql-cli
        source:
          file: { path: {{_dir.File("in.jsonl")}} }
          schema: { id: int64, amount: float64, status: string, ts: timestamp }
        transform: |
        {{string.Join("\n", sql.Split('\n').Select(l => "  " + l))}}
        sink:
          file: { path: {{_dir.File("out.jsonl")}} }
        """);

    private void Input() => _dir.Write("in.jsonl", """
        {"id": 1, "amount": 10.5, "status": "paid", "ts": "2024-01-01T00:00:01Z"}
        {"id": 2, "amount": 3, "status": "open", "ts": "2024-01-01T00:00:02Z"}
        {"id": 3, "amount": null, "status": "paid", "ts": "2024-01-01T00:00:03Z"}
        {"id": 4, "amount": 99.25, "status": "paid", "ts": "2024-01-01T00:01:00.5Z"}

        """);

    [Fact]
    public async Task Validate_reports_an_sql_error_with_its_line_and_column()
    {
        Input();
        var spec = Spec("SELECT id, amount\nFROM source\nWHERE statuss = 'paid'");
        var (exit, stdout, stderr) = await Cli.RunAsync(_dir.Path, TimeSpan.FromSeconds(60), "validate", spec);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith($"{spec}: transform: line 3 col 7: unknown column 'statuss'; did you mean 'status'?", lines[0], StringComparison.Ordinal);
        Assert.Equal($"{spec}: 1 problem", lines[^1]);
    }

    [Fact]
    public async Task Explain_prints_the_logical_and_the_physical_plan()
    {
        Input();
        var spec = Spec("SELECT id, amount * 2 AS doubled FROM source WHERE status = 'paid'");
        var (exit, stdout, stderr) = await Cli.RunAsync(_dir.Path, TimeSpan.FromSeconds(60), "explain", spec);
        Assert.True(exit == 0, stderr);
        Assert.Contains("  sql:\n    Project id, (amount * 2) AS doubled\n      Filter (status = 'paid')\n        Scan source (", stdout, StringComparison.Ordinal);
        Assert.Contains("-> filter (status = 'paid') -> project id, (amount * 2) AS doubled", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_writes_the_selected_rows_with_keys_in_select_order()
    {
        Input();
        var spec = Spec("SELECT amount * 2 AS doubled, id, ts\nFROM source -- paid orders only\nWHERE status = 'paid' AND amount IS NOT NULL");
        var (exit, _, stderr) = await Cli.RunAsync(_dir.Path, TimeSpan.FromSeconds(120), "run", "--no-progress", spec);
        Assert.True(exit == 0, stderr);
        var lines = (await File.ReadAllLinesAsync(_dir.File("out.jsonl"), TestContext.Current.CancellationToken)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(
        [
            """{"doubled":198.5,"id":4,"ts":"2024-01-01T00:01:00.500000Z"}""",
            """{"doubled":21,"id":1,"ts":"2024-01-01T00:00:01.000000Z"}""",
        ], lines);
    }
}
