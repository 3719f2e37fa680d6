using System.Globalization;
using System.Text;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Runtime;
using static AiEtl.Integration.Tests.Kafka.KafkaTestSupport;

namespace AiEtl.Integration.Tests.Kafka;

/// <summary>Event time per partition: the reader's watermark floor is held back by the partition that lags.</summary>
[Collection("kafka")]
public sealed class KafkaWatermarkTests(KafkaFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static long Micros(DateTimeOffset t) => t.ToUnixTimeMilliseconds() * 1000;

    private static byte[] Order(long id, DateTimeOffset ts) => Encoding.UTF8.GetBytes(
        $"{{\"id\":{id},\"name\":\"n\",\"amount\":1,\"ts\":\"{ts.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}\"}}");

    [Fact]
    public async Task The_floor_never_passes_a_partition_that_still_has_older_rows_and_reaches_the_maximum_once_all_caught_up()
    {
        var topic = $"wm-{Guid.NewGuid().ToString("N")[..12]}";
        fx.Cluster.CreateTopic(topic, 2);
        // Partition 0 runs an hour ahead of partition 1 in event time.
        var early = new DateTimeOffset(2026, 1, 1, 9, 0, 0, TimeSpan.Zero);
        var late = early.AddHours(1);
        const int perPartition = 600;
        Produce(fx.Cluster.BootstrapServers, topic, Enumerable.Range(0, perPartition)
            .SelectMany(i => new[] { (0, Order(i, late.AddSeconds(i))), (1, Order(perPartition + i, early.AddSeconds(i))) }));

        var source = new KafkaSource(Options(fx.Cluster.BootstrapServers, topic, "g-wm") with { BatchSize = 50, MetadataColumns = ["_partition"] });
        await using var reader = source.CreateReader(Context(new ListDeadLetters()));
        var split = Assert.IsAssignableFrom<ISplitEventTime>(reader);
        var tsColumn = source.Schema.GetFieldIndex("ts");
        split.TrackEventTime(tsColumn);
        Assert.Equal(long.MinValue, split.EventTimeFloor);

        var seen = new long[2];
        var maxSeen = new[] { long.MinValue, long.MinValue };
        var checks = 0;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (seen[0] + seen[1] < 2 * perPartition && DateTime.UtcNow < deadline)
        {
            using var batch = await reader.ReadNextBatchAsync(Ct);
            Assert.NotNull(batch);
            var ts = (Apache.Arrow.TimestampArray)batch.Column(tsColumn);
            var partition = (Apache.Arrow.Int32Array)batch.Column(source.Schema.GetFieldIndex("_partition"));
            for (var r = 0; r < batch.Length; r++)
            {
                var p = partition.GetValue(r)!.Value;
                seen[p]++;
                maxSeen[p] = Math.Max(maxSeen[p], ts.GetValue(r)!.Value);
            }
            // A partition with rows still to come holds the floor at (or below) its own progress.
            for (var p = 0; p < 2; p++)
            {
                if (seen[p] >= perPartition) continue;
                Assert.True(split.EventTimeFloor <= maxSeen[p],
                    $"floor {split.EventTimeFloor} passed partition {p}, which has read {seen[p]} rows up to {maxSeen[p]}");
                checks++;
            }
        }
        Assert.Equal(perPartition, seen[0]);
        Assert.Equal(perPartition, seen[1]);
        Assert.True(checks > 0);

        // Both partitions reach their end: neither holds the floor back any more.
        var end = Micros(late.AddSeconds(perPartition - 1));
        while (split.EventTimeFloor != end && DateTime.UtcNow < deadline)
            using (var b = await reader.ReadNextBatchAsync(Ct)) Assert.Equal(0, b!.Length);
        Assert.Equal(end, split.EventTimeFloor);
    }
}
