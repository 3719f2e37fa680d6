using AiEtl.Bench.Harness;
using AiEtl.Bench.Micro;
using AiEtl.Bench.Scenarios;

namespace AiEtl.Bench;

public static class Program
{
    private const string Usage =
        """
        usage: dotnet run -c Release --project bench/AiEtl.Bench -- COMMAND
          list                                   the scenarios
          SCENARIO [--quick] [--rows N] [--runs N] [--parallelism N] [--out DIR] [--markdown]
                                                 run one scenario; writes DIR/SCENARIO.json (default bench/out)
                 nexmark also: [--kafka | --kafka-only] [--kafka-events N]  the queries from the mock broker as JSON
                 kafka-clickhouse also: [--decode-only]  only engine_decoder vs json_poco (no broker, no ClickHouse)
          micro [BenchmarkDotNet args]           kernel micro-benchmarks (default: --filter *)
        """;

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.Error.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        var command = args[0];
        if (command == "list")
        {
            foreach (var s in ScenarioRegistry.All) Console.WriteLine($"{s.Name,-17} {s.Description}");
            Console.WriteLine($"{"micro",-17} BenchmarkDotNet kernel micro-benchmarks (selection, gather, multiply, column builder, window aggregation, HyperLogLog)");
            return 0;
        }
        if (command == "micro") return MicroRunner.Run(args[1..]);
        // Hidden: the child process that hosts the mock Kafka broker for the kafka-clickhouse scenario.
        if (command == MockBrokerProcess.Command) return MockBrokerProcess.HostMain(args.AsSpan(1));

        var scenario = ScenarioRegistry.Find(command);
        if (scenario == null)
        {
            Console.Error.WriteLine($"unknown scenario '{command}' (see 'list')");
            Console.Error.WriteLine(Usage);
            return 2;
        }
        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(scenario.Name, args.AsSpan(1));
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        try
        {
            using var sampler = new RssSampler();
            var loadBefore = EnvInfo.LoadAverage1m();
            var report = scenario.Run(options, new Measurer(sampler, options.TimedRuns));
            report.Env.Add("load_avg_1m_start", loadBefore, 2).Add("load_avg_1m_end", EnvInfo.LoadAverage1m(), 2);
            Console.WriteLine();
            Console.WriteLine($"{report.Scenario}: {report.Rows:N0} rows, {options.Parallelism} cores, best of {options.TimedRuns} after 1 warmup{(options.Quick ? " (quick)" : "")}, load average {report.Env["load_avg_1m_start"]} → {report.Env["load_avg_1m_end"]}");
            if (report.Table != null) Console.Write(report.Table.ToString());
            foreach (var n in report.Notes) Console.WriteLine("  " + n);
            if (report.Table != null && options.Markdown)
            {
                Console.WriteLine();
                Console.Write(report.Table.ToMarkdown());
            }
            var path = report.Save(options.OutDirectory);
            Console.WriteLine($"wrote {Path.GetRelativePath(Environment.CurrentDirectory, path)}");
            return 0;
        }
        catch (ResultMismatchException e)
        {
            Console.Error.WriteLine($"FAILED: {e.Message}");
            return 1;
        }
    }
}
