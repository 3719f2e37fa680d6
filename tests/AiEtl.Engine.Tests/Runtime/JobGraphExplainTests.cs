using AiEtl.Engine.Runtime;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>What <c>aietl explain</c> says about a source's watermark: it must match what SourceTask does.</summary>
public sealed class JobGraphExplainTests
{
    private static readonly Schema Ts = new Schema.Builder().Field(f => f.Name("ts").DataType(TimestampType.Default).Nullable(false)).Build();

    /// <summary>A source whose readers derive event time per split, as Kafka's do per partition.</summary>
    private sealed class SplitSource(string? split) : ISource
    {
        public string Name => "s";
        public Schema Schema => Ts;
        public int MaxParallelism => 4;
        public bool IsBounded => false;
        public string? EventTimeSplit => split;
        public ISourceReader CreateReader(ConnectorContext context) => throw new NotSupportedException("explain only");
    }

    private static string Explain(string? split, TimeSpan? idle)
    {
        var graph = new JobGraph { Name = "p" };
        graph.Add(new JobVertex
        {
            Name = "source:s", Parallelism = 2, Source = new SplitSource(split), OutputSchema = Ts, CreateChain = _ => [],
            EventTime = new EventTimeSettings("ts", TimeSpan.FromSeconds(5), idle),
        });
        return graph.Explain();
    }

    [Fact]
    public void A_source_with_per_split_event_time_is_explained_per_split()
    {
        var text = Explain("partition", null);
        Assert.Contains(
            "    event time: ts, watermark per partition: each task's least, over its partitions with data pending, of the partition's max event time - 5s (the max when all have caught up)\n",
            text, StringComparison.Ordinal);
        Assert.DoesNotContain("max event time read by each task", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_source_without_splits_is_explained_by_the_largest_event_time_read()
    {
        var text = Explain(null, TimeSpan.FromSeconds(30));
        Assert.Contains(
            "    event time: ts, watermark = max event time read by each task - 5s; a task without data for 30s is idle and does not hold it back\n",
            text, StringComparison.Ordinal);
        Assert.DoesNotContain("per partition", text, StringComparison.Ordinal);
    }
}
