using System.Collections.Concurrent;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>A reader of several splits (Kafka partitions) gets its watermark from the split that lags.</summary>
public sealed class SplitWatermarkTests
{
    private static readonly Schema S = new Schema.Builder().Field(ColumnTypes.Field("ts", ColumnKind.Timestamp)).Build();
    private const long Second = 1_000_000;

    /// <summary>
    /// Batches alternate between split A (100 s, 101 s) and split B, which lags (10 s, 20 s); after the four
    /// batches both splits have caught up (seen on the next, empty, read). With <paramref name="perSplit"/> the reader reports its floor.
    /// </summary>
    private sealed class TwoSplitSource(bool perSplit) : ISource
    {
        public string Name => "two-splits";
        public Schema Schema => S;
        public int MaxParallelism => 1;
        public bool IsBounded => false;
        public ISourceReader CreateReader(ConnectorContext context) => perSplit ? new SplitReader() : new Reader();

        private class Reader : ISourceReader
        {
            private static readonly (int Split, long Ts)[] Script = [(0, 100 * Second), (1, 10 * Second), (0, 101 * Second), (1, 20 * Second)];
            protected readonly long[] Max = [long.MinValue, long.MinValue];
            protected int Next;
            protected int EmptyReads;
            public void RestorePosition(ReadOnlySpan<byte> position) { }
            public byte[] SnapshotPosition() => [];
            public ValueTask DisposeAsync() => default;

            public async ValueTask<Batch?> ReadNextBatchAsync(CancellationToken ct)
            {
                await Task.Delay(5, ct);
                using var b = new BatchBuilder(S, 16);
                if (Next < Script.Length)
                {
                    var (split, ts) = Script[Next++];
                    b[0].AppendInt64(ts);
                    Max[split] = Math.Max(Max[split], ts);
                }
                else
                {
                    EmptyReads++;
                }
                return b.Build();
            }
        }

        private sealed class SplitReader : Reader, ISplitEventTime
        {
            public void TrackEventTime(int column) => Assert.Equal(0, column);
            // Both splits count as caught up from the first read that found nothing (an empty batch).
            public long EventTimeFloor => EmptyReads > 0 ? Math.Max(Max[0], Max[1]) : Math.Min(Max[0], Max[1]);
        }
    }

    private sealed class Probe(ConcurrentQueue<long> seen) : Operator
    {
        public override string Name => "probe";
        public override Schema OutputSchema => S;

        public override ValueTask ProcessAsync(Batch batch, IOutput output, CancellationToken ct)
        {
            batch.Dispose();
            return default;
        }

        public override ValueTask OnWatermarkAsync(long watermarkMicros, IOutput output, CancellationToken ct)
        {
            seen.Enqueue(watermarkMicros);
            return default;
        }
    }

    private static async Task<long[]> WatermarksAsync(bool perSplit)
    {
        var seen = new ConcurrentQueue<long>();
        using var stop = new CancellationTokenSource();
        var g = new JobGraph { Name = "split-wm" };
        var src = g.Add(new JobVertex
        {
            Name = "source", Parallelism = 1, Source = new TwoSplitSource(perSplit), OutputSchema = S,
            EventTime = new EventTimeSettings("ts", TimeSpan.FromSeconds(1), null),
            CreateChain = _ => [],
        });
        var op = g.Add(new JobVertex { Name = "probe", Parallelism = 1, OutputSchema = S, CreateChain = _ => [new Probe(seen)] });
        JobGraph.Connect(src, op, Partitioning.Rebalance);
        var run = new JobRunner(g, new JobOptions { DeadLetters = new ListDeadLetters(), Metrics = new EngineMetrics("split-wm") })
            .RunAsync(stop.Token, TestContext.Current.CancellationToken);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!seen.Contains(100 * Second) && DateTime.UtcNow < deadline) await Task.Delay(10, TestContext.Current.CancellationToken);
        var result = seen.ToArray();
        await stop.CancelAsync();
        await run;
        return result;
    }

    [Fact]
    public async Task The_watermark_follows_the_lagging_split_and_jumps_when_every_split_caught_up()
    {
        var seen = await WatermarksAsync(perSplit: true);
        Assert.Equal(new[] { 9 * Second, 19 * Second, 100 * Second }, seen);
    }

    [Fact]
    public async Task Without_split_event_time_the_watermark_follows_the_largest_event_time_of_the_batches()
    {
        // The behaviour of single-split readers (files, generator): the lagging split's rows at 10 s and 20 s
        // would already be behind this watermark.
        var seen = await WatermarksAsync(perSplit: false);
        Assert.Equal(new[] { 99 * Second, 100 * Second }, seen);
    }
}
