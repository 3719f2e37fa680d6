using AiEtl.Bench.Scenarios;

namespace AiEtl.Bench.Harness;

/// <summary>An end-to-end scenario: runs the engine and its peers side by side and writes one report.</summary>
public interface IScenario
{
    string Name { get; }
    string Description { get; }
    /// <summary>Runs the scenario; returns the report to print and save.</summary>
    ScenarioReport Run(BenchOptions options, Measurer measurer);
}

/// <summary>Every scenario, registered explicitly (no reflection scanning).</summary>
public static class ScenarioRegistry
{
    public static IReadOnlyList<IScenario> All { get; } =
    [
        new CoreScenario(),
        new SlowSinkScenario(),
        new WindowAggScenario(),
        new KafkaClickHouseScenario(),
        new CdcScenario(),
        new NexmarkScenario(),
    ];

    public static IScenario? Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
