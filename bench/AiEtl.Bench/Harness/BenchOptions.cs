using System.Globalization;

namespace AiEtl.Bench.Harness;

/// <summary>Command-line options shared by every scenario: <c>SCENARIO [--quick] [--rows N] [--runs N] [--parallelism N] [--out DIR] [--markdown] [--kafka | --kafka-only] [--kafka-events N] [--decode-only]</c>.</summary>
public sealed record BenchOptions
{
    public required string Scenario { get; init; }
    public bool Quick { get; init; }
    /// <summary>Row count asked for with <c>--rows</c>; null means the scenario's default.</summary>
    public long? Rows { get; init; }
    /// <summary>Timed runs per measurement (best and median are reported); null means the default.</summary>
    public int? Runs { get; init; }
    public int Parallelism { get; init; } = Environment.ProcessorCount;
    public required string OutDirectory { get; init; }
    /// <summary>nexmark: also (or with <see cref="KafkaOnly"/>, only) run the queries from the mock broker as JSON.</summary>
    public bool Kafka { get; init; }
    /// <summary>nexmark: skip the in-process section and DuckDB (the report then holds only <c>kafka</c>).</summary>
    public bool KafkaOnly { get; init; }
    /// <summary>nexmark: events loaded into the broker; null means the scenario's default.</summary>
    public long? KafkaEvents { get; init; }
    /// <summary>Also print the table as markdown (for RESULTS.md).</summary>
    public bool Markdown { get; init; }
    /// <summary>kafka-clickhouse: only the decoder contestants (engine decoder vs json_poco), no broker or ClickHouse.</summary>
    public bool DecodeOnly { get; init; }

    /// <summary>Default timed runs: 3, or 2 in quick mode.</summary>
    public int TimedRuns => Runs ?? (Quick ? 2 : 3);

    public static BenchOptions Parse(string scenario, ReadOnlySpan<string> args)
    {
        var o = new BenchOptions { Scenario = scenario, OutDirectory = RepoPaths.DefaultOutDirectory() };
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            switch (a)
            {
                case "--quick":
                    o = o with { Quick = true };
                    break;
                case "--markdown":
                    o = o with { Markdown = true };
                    break;
                case "--decode-only":
                    o = o with { DecodeOnly = true };
                    break;
                case "--kafka":
                    o = o with { Kafka = true };
                    break;
                case "--kafka-only":
                    o = o with { Kafka = true, KafkaOnly = true };
                    break;
                case "--kafka-events":
                    o = o with { KafkaEvents = ParseLong(a, Value(args, ref i)) };
                    break;
                case "--rows":
                    o = o with { Rows = ParseLong(a, Value(args, ref i)) };
                    break;
                case "--runs":
                    o = o with { Runs = (int)ParseLong(a, Value(args, ref i)) };
                    break;
                case "--parallelism":
                    o = o with { Parallelism = (int)ParseLong(a, Value(args, ref i)) };
                    break;
                case "--out":
                    o = o with { OutDirectory = Path.GetFullPath(Value(args, ref i)) };
                    break;
                default:
                    throw new UsageException($"unknown option '{a}'");
            }
        }
        if (o.Rows is <= 0) throw new UsageException("--rows must be positive");
        if (o.KafkaEvents is <= 0) throw new UsageException("--kafka-events must be positive");
        if (o.Runs is <= 0) throw new UsageException("--runs must be positive");
        if (o.Parallelism <= 0) throw new UsageException("--parallelism must be positive");
        return o;
    }

    private static string Value(ReadOnlySpan<string> args, ref int i)
    {
        if (i + 1 >= args.Length) throw new UsageException($"{args[i]} needs a value");
        return args[++i];
    }

    private static long ParseLong(string option, string text)
    {
        // Accept 10000000, 10_000_000 and 10M / 2k for convenience.
        var t = text.Replace("_", "", StringComparison.Ordinal);
        long scale = 1;
        if (t.EndsWith('k') || t.EndsWith('K')) { scale = 1_000; t = t[..^1]; }
        else if (t.EndsWith('m') || t.EndsWith('M')) { scale = 1_000_000; t = t[..^1]; }
        if (!long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"{option}: '{text}' is not a number");
        return checked(v * scale);
    }
}

/// <summary>Bad command line: printed with the usage, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
