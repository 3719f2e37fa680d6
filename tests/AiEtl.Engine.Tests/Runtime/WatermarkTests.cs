using System.Collections.Concurrent;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Runtime;

public sealed class WatermarkTests
{
    private static readonly Schema S = new Schema.Builder().Field(ColumnTypes.Field("ts", ColumnKind.Timestamp)).Build();

    /// <summary>Reader 0 emits rows with increasing event time; reader 1 never has data (an idle partition).</summary>
    private sealed class HalfIdleSource : ISource
    {
        public static int Produced;
        public string Name => "half-idle";
        public Schema Schema => S;
        public int MaxParallelism => 2;
        public bool IsBounded => false;
        public ISourceReader CreateReader(ConnectorContext context) => new Reader(context.Task.Index);

        private sealed class Reader(int index) : ISourceReader
        {
            private long _next;
            public void RestorePosition(ReadOnlySpan<byte> position) { }
            public byte[] SnapshotPosition() => [];
            public ValueTask DisposeAsync() => default;

            public async ValueTask<Batch?> ReadNextBatchAsync(CancellationToken ct)
            {
                await Task.Delay(5, ct);
                using var b = new BatchBuilder(S, 16);
                if (index == 0 && _next < 200)
                {
                    b[0].AppendInt64(_next++ * 1_000_000);
                    Interlocked.Increment(ref Produced);
                }
                return b.Build();
            }
        }
    }

    /// <summary>Records the watermarks it sees.</summary>
    private sealed class WatermarkProbe(ConcurrentQueue<long> seen, Func<bool> stopping) : Operator
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
            // Only what arrives while running counts: on stop the sources end and ended inputs release the watermark.
            if (!stopping()) seen.Enqueue(watermarkMicros);
            return default;
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_idle_partition_holds_back_the_watermark_only_without_an_idle_timeout(bool idleTimeout)
    {
        var seen = new ConcurrentQueue<long>();
        HalfIdleSource.Produced = 0;
        using var stop = new CancellationTokenSource();
        var g = new JobGraph { Name = "wm" };
        var src = g.Add(new JobVertex
        {
            Name = "source", Parallelism = 2, Source = new HalfIdleSource(), OutputSchema = S,
            EventTime = new EventTimeSettings("ts", TimeSpan.FromSeconds(1), idleTimeout ? TimeSpan.FromMilliseconds(100) : null),
            CreateChain = _ => [],
        });
        var op = g.Add(new JobVertex { Name = "probe", Parallelism = 1, OutputSchema = S, CreateChain = _ => [new WatermarkProbe(seen, () => stop.IsCancellationRequested)] });
        JobGraph.Connect(src, op, Partitioning.Rebalance);
        var run = new JobRunner(g, new JobOptions { DeadLetters = new ListDeadLetters(), Metrics = new EngineMetrics("wm") })
            .RunAsync(stop.Token, TestContext.Current.CancellationToken);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (Volatile.Read(ref HalfIdleSource.Produced) < 200 && sw.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(10, TestContext.Current.CancellationToken);
        sw.Restart();
        while ((seen.IsEmpty || seen.Max() < 198_000_000) && sw.Elapsed < TimeSpan.FromSeconds(idleTimeout ? 30 : 1)) await Task.Delay(10, TestContext.Current.CancellationToken);
        await stop.CancelAsync();
        await run;
        if (idleTimeout)
        {
            // Watermark = max event time − 1 s, advancing with reader 0 although reader 1 has no data.
            Assert.NotEmpty(seen);
            Assert.Equal(198_000_000, seen.Max());
            Assert.Equal(seen.OrderBy(x => x), seen);
        }
        else
        {
            Assert.Empty(seen);
        }
    }
}
