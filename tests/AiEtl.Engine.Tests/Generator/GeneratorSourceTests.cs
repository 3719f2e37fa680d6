using System.Diagnostics;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Connectors.Generator;
using AiEtl.Engine.Tests.Support;

namespace AiEtl.Engine.Tests.Generator;

public sealed class GeneratorSourceTests
{
    private static async Task<List<object?[]>> ReadAll(GeneratorOptions o, int index = 0, int parallelism = 1, byte[]? restore = null)
    {
        var source = new GeneratorSource(o);
        await using var reader = source.CreateReader(Contexts.Create(index: index, parallelism: parallelism));
        if (restore != null) reader.RestorePosition(restore);
        return await Batches.ReadAll(reader);
    }

    private static string Key(object?[] row) => Batches.Show([row]);

    [Theory]
    [InlineData(GeneratorKind.Orders)]
    [InlineData(GeneratorKind.Clickstream)]
    public async Task Same_seed_gives_identical_rows_and_another_seed_different_ones(GeneratorKind kind)
    {
        var o = new GeneratorOptions { Kind = kind, Rows = 5_000, BatchSize = 700, Seed = 7 };
        var a = await ReadAll(o);
        var b = await ReadAll(o);
        var c = await ReadAll(o with { Seed = 8 });
        Assert.Equal(5_000, a.Count);
        Assert.Equal(a.Select(Key), b.Select(Key));
        Assert.NotEqual(a.Select(Key), c.Select(Key));
        Assert.Equal(Enumerable.Range(1, 5_000).Select(i => (object?)(long)i), a.Select(r => r[0]));
    }

    [Theory]
    [InlineData(GeneratorKind.Orders, 2)]
    [InlineData(GeneratorKind.Clickstream, 3)]
    public async Task Union_of_parallel_readers_equals_a_single_reader(GeneratorKind kind, int parallelism)
    {
        var o = new GeneratorOptions { Kind = kind, Rows = 10_001, BatchSize = 1000, Seed = 99 };
        var single = await ReadAll(o);
        var union = new List<object?[]>();
        for (var i = 0; i < parallelism; i++)
        {
            var part = await ReadAll(o, i, parallelism);
            // Reader i owns exactly the chunks k with k % P == i.
            Assert.All(part, r => Assert.Equal(i, (int)(((long)r[0]! - 1) / 1000 % parallelism)));
            union.AddRange(part);
        }
        Assert.Equal(single.Select(Key), union.OrderBy(r => (long)r[0]!).Select(Key));
    }

    [Fact]
    public async Task Restored_reader_continues_exactly_after_the_snapshot()
    {
        var o = new GeneratorOptions { Kind = GeneratorKind.Clickstream, Rows = 9_000, BatchSize = 1000, Seed = 3 };
        var expected = await ReadAll(o, 1, 2);
        var source = new GeneratorSource(o);
        byte[] position;
        var head = new List<object?[]>();
        await using (var reader = source.CreateReader(Contexts.Create(index: 1, parallelism: 2)))
        {
            for (var i = 0; i < 2; i++)
            {
                using var b = await reader.ReadNextBatchAsync(CancellationToken.None);
                head.AddRange(Batches.Rows(b!));
            }
            position = reader.SnapshotPosition();
        }
        var tail = await ReadAll(o, 1, 2, position);
        Assert.Equal(expected.Select(Key), head.Concat(tail).Select(Key));
    }

    [Fact]
    public async Task Orders_have_skewed_statuses_and_bounded_out_of_order_event_time()
    {
        var o = new GeneratorOptions { Rows = 20_000, Seed = 1, MaxJitter = TimeSpan.FromMilliseconds(500) };
        var rows = await ReadAll(o);
        var statuses = rows.GroupBy(r => (string)r[5]!).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(["cancelled", "paid", "pending", "refunded"], statuses.Keys.Order());
        Assert.True(statuses["paid"] > statuses["pending"] && statuses["pending"] > statuses["cancelled"] && statuses["cancelled"] > statuses["refunded"]);
        Assert.All(rows, r => Assert.InRange((double)r[4]!, 1.0, 5000.0));
        Assert.All(rows, r => Assert.InRange((int)r[3]!, 1, 20));
        Assert.Contains(rows, r => r[6] == null);
        Assert.All(rows, r => Assert.InRange((long)r[1]!, 1, 100_000));

        var start = Batches.Micros(new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        var outOfOrder = 0;
        long max = long.MinValue;
        for (var i = 0; i < rows.Count; i++)
        {
            var ts = (long)rows[i][7]!;
            var nominal = start + i * 1000L;
            Assert.InRange(ts, nominal - 500_000, nominal);
            if (ts < max) outOfOrder++;
            max = Math.Max(max, ts);
        }
        Assert.InRange(outOfOrder, rows.Count / 20, rows.Count / 5);
    }

    [Fact]
    public async Task Clickstream_rows_look_like_web_events()
    {
        var rows = await ReadAll(new GeneratorOptions { Kind = GeneratorKind.Clickstream, Rows = 5_000, MaxJitter = TimeSpan.Zero });
        Assert.All(rows, r => Assert.Matches("^[0-9a-f]{16}$", (string)r[2]!));
        Assert.All(rows, r => Assert.StartsWith("https://shop.example.com/", (string)r[3]!));
        Assert.Contains(rows, r => ((string)r[3]!).StartsWith("https://shop.example.com/product/", StringComparison.Ordinal));
        var nullReferrers = rows.Count(r => r[4] == null);
        Assert.InRange(nullReferrers, 1_500, 2_500);
        Assert.All(rows, r => Assert.Contains((string)r[5]!, new[] { "page_view", "click", "scroll", "add_to_cart", "checkout", "purchase" }));
        Assert.All(rows, r => Assert.InRange((int)r[6]!, 0, 59_999));
        for (var i = 1; i < rows.Count; i++) Assert.Equal((long)rows[i - 1][7]! + 1000, (long)rows[i][7]!);
        // Sessions group a user's events.
        Assert.True(rows.Select(r => (string)r[2]!).Distinct().Count() < rows.Count);
    }

    [Fact]
    public async Task Rate_paces_rows_by_the_wall_clock_and_lets_empty_batches_through()
    {
        var o = new GeneratorOptions { Rows = 600, BatchSize = 100, Rate = 1_000 };
        var source = new GeneratorSource(o);
        await using var reader = source.CreateReader(Contexts.Create());
        var sw = Stopwatch.StartNew();
        long rows = 0;
        while (true)
        {
            using var b = await reader.ReadNextBatchAsync(CancellationToken.None);
            if (b == null) break;
            rows += b.Length;
            Assert.InRange(b.Length, 0, 100);
        }
        sw.Stop();
        Assert.Equal(600, rows);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.45, 5);
    }

    [Fact]
    public async Task Unbounded_generator_keeps_producing()
    {
        var source = new GeneratorSource(new GeneratorOptions { BatchSize = 10 });
        Assert.False(source.IsBounded);
        await using var reader = source.CreateReader(Contexts.Create());
        var rows = await Batches.ReadAll(reader, maxBatches: 50);
        Assert.Equal(500, rows.Count);
    }

    [Fact]
    public void Invalid_options_list_every_problem()
    {
        var e = Assert.Throws<ConnectorConfigException>(() => new GeneratorSource(new GeneratorOptions { Rows = -1, BatchSize = 0, Rate = -5 }));
        Assert.Equal(3, e.Problems.Count);
    }
}
