using AiEtl.Engine.Columns;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Tests.Support;
using AiEtl.Engine.Tests.Windows;
using Apache.Arrow;
using static AiEtl.Engine.Tests.Windows.WindowData;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>
/// Keyed state restored into another parallelism: the instances of a run with P₁ are snapshotted mid-stream, the
/// snapshots restored into P₂ instances (each keeping the keys the hash edge now sends it), and the union of all
/// output equals one operator's output over the same input.
/// </summary>
public sealed class StateRescaleTests
{
    private const long Second = 1_000_000;

    /// <summary>Splits a batch as the hash edge in front of a keyed operator does.</summary>
    private static Batch?[] Partition(Batch batch, int[] keys, int parallelism)
    {
        var hashes = new ulong[batch.Length];
        KeyHash.Compute(batch.Data, keys, hashes);
        var sel = Enumerable.Range(0, parallelism).Select(_ => new List<int>()).ToArray();
        for (var i = 0; i < batch.Length; i++) sel[KeyHash.Partition(hashes[i], parallelism)].Add(i);
        return sel.Select(s => s.Count == 0 ? null : Gather.Take(batch, s.ToArray())).ToArray();
    }

    private static async Task<List<string>> RunRescaledAsync(Func<Operator> create, IReadOnlyList<Batch> batches, long[] wms, int[] keys, int before, int after, int cut)
    {
        var ct = TestContext.Current.CancellationToken;
        using var metrics = new EngineMetrics("test");
        var letters = new CollectingDeadLetters();
        var output = new CollectingOutput();
        var ops = new Operator[before];
        for (var i = 0; i < before; i++)
        {
            ops[i] = create();
            await ops[i].OpenAsync(Driver.Context(letters, metrics), null, ct);
        }
        for (var b = 0; b < batches.Count; b++)
        {
            if (b == cut)
            {
                var states = new List<byte[]>();
                foreach (var op in ops)
                {
                    if (await op.SnapshotAsync(1, ct) is { } s) states.Add(s);
                    await op.CloseAsync();
                }
                ops = new Operator[after];
                for (var i = 0; i < after; i++)
                {
                    ops[i] = create();
                    Assert.True(ops[i].CanRescale);
                    await ops[i].OpenRescaledAsync(Driver.Context(letters, metrics), states, i, after, ct);
                }
            }
            var parts = Partition(batches[b], keys, ops.Length);
            for (var i = 0; i < ops.Length; i++)
            {
                if (parts[i] is { } part) await ops[i].ProcessAsync(part, output, ct);
                await ops[i].OnWatermarkAsync(wms[b], output, ct);
            }
        }
        foreach (var op in ops)
        {
            await op.OnEndOfInputAsync(output, ct);
            await op.CloseAsync();
        }
        return [.. output.All.Order(StringComparer.Ordinal)];
    }

    private static async Task<List<string>> RunSingleAsync(Func<Operator> create, IReadOnlyList<Batch> batches, long[] wms)
    {
        var ct = TestContext.Current.CancellationToken;
        using var metrics = new EngineMetrics("test");
        var output = new CollectingOutput();
        var op = create();
        await op.OpenAsync(Driver.Context(new CollectingDeadLetters(), metrics), null, ct);
        for (var b = 0; b < batches.Count; b++)
        {
            await op.ProcessAsync(batches[b].Retain(), output, ct);
            await op.OnWatermarkAsync(wms[b], output, ct);
        }
        await op.OnEndOfInputAsync(output, ct);
        await op.CloseAsync();
        return [.. output.All.Order(StringComparer.Ordinal)];
    }

    public static TheoryData<string, int, int> Cases => new()
    {
        { "tumble", 2, 3 },
        { "tumble", 3, 1 },
        { "hop", 2, 5 },
        { "session", 4, 2 },
        { "plain", 1, 3 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Window_aggregate_state_moves_to_another_parallelism_by_key(string window, int before, int after)
    {
        var batches = Generate(7, new Shape { Rows = 3000, Keys = 9, FarBackShare = 0 });
        try
        {
            var spec = window switch
            {
                "tumble" => new WindowSpec(WindowKind.Tumble, Ts, 5 * Second, 0, 0, 0),
                "hop" => new WindowSpec(WindowKind.Hop, Ts, 6 * Second, 2 * Second, 0, 0),
                "session" => new WindowSpec(WindowKind.Session, Ts, 0, 0, 3 * Second, 0),
                _ => new WindowSpec(WindowKind.None, -1, 0, 0, 0, 0),
            };
            int[] keys = [K, S];
            var create = () => (Operator)new WindowAggregateOperator(InputSchema, keys, spec, AllAggregates);
            var wms = Driver.Watermarks(batches, 2 * Second);
            var expected = await RunSingleAsync(create, batches, wms);
            var actual = await RunRescaledAsync(create, batches, wms, keys, before, after, batches.Count / 2);
            Assert.NotEmpty(expected);
            Assert.Equal(expected, actual);
        }
        finally
        {
            DisposeAll(batches);
        }
    }

    private static (JobGraph Graph, Operator Sample) CountJob(IReadOnlyList<Batch> input, TwoPhaseListSink sink, int parallelism)
    {
        var schema = TestData.OrdersSchema;
        var counter = new RunningCountOperator(schema, "customer", "seq");
        var g = new JobGraph { Name = "rescale" };
        var src = g.Add(new JobVertex { Name = "source", Parallelism = 1, Source = new AiEtl.Engine.Connectors.Memory.InMemorySource("mem", schema, input, maxParallelism: 1), OutputSchema = schema, CreateChain = _ => [] });
        var op = g.Add(new JobVertex { Name = "count", Parallelism = parallelism, OutputSchema = counter.OutputSchema, CreateChain = _ => [new RunningCountOperator(schema, "customer", "seq")] });
        var snk = g.Add(new JobVertex { Name = "sink", Parallelism = 1, OutputSchema = counter.OutputSchema, IsSink = true, CreateChain = _ => [new SinkOperator(sink, counter.OutputSchema)] });
        JobGraph.Connect(src, op, Partitioning.Hash, [1]);
        JobGraph.Connect(op, snk, Partitioning.Forward);
        return (g, counter);
    }

    [Theory]
    [InlineData(2, 3)]
    [InlineData(3, 1)]
    public async Task A_checkpoint_restores_into_a_job_with_another_parallelism_of_the_keyed_vertex(int before, int after)
    {
        // Run A reads the first half and ends with its final checkpoint; run B reads the whole list, restoring the
        // source position (batch 10) and the counts into a keyed vertex of another parallelism.
        var all = TestData.Orders(4000, 200);
        try
        {
            var store = new DirectoryCheckpointStore(Directory.CreateTempSubdirectory("aietl-rescale-").FullName);
            var sink = new TwoPhaseListSink("out");
            JobOptions Options() => new() { DeadLetters = new ListDeadLetters(), Metrics = new EngineMetrics("test"), Store = store };
            var (a, _) = CountJob(all.Take(10).ToList(), sink, before);
            var first = await new JobRunner(a, Options()).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
            Assert.Null(first.RestoredFromCheckpoint);
            var (b, _) = CountJob(all, sink, after);
            var second = await new JobRunner(b, Options()).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
            Assert.Equal(1, second.RestoredFromCheckpoint);
            Assert.Equal(2000, second.SourceRows);

            var rows = sink.Committed.Select(r => r.Split('|')).ToList();
            Assert.Equal(4000, rows.Count);
            foreach (var grp in rows.GroupBy(r => r[1]))
            {
                var ordered = grp.OrderBy(r => long.Parse(r[0], System.Globalization.CultureInfo.InvariantCulture)).Select(r => long.Parse(r[^1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
                Assert.Equal(Enumerable.Range(1, ordered.Count).Select(i => (long)i), ordered);
            }
            Directory.Delete(store.DirectoryPath, recursive: true);
        }
        finally
        {
            DisposeAll(all);
        }
    }

    [Fact]
    public async Task A_source_whose_parallelism_changed_is_refused_naming_it()
    {
        var all = TestData.Orders(1000, 100);
        try
        {
            var store = new InMemoryCheckpointStore();
            var schema = TestData.OrdersSchema;
            JobGraph Job(int p)
            {
                var g = new JobGraph { Name = "src" };
                var src = g.Add(new JobVertex { Name = "source:mem", Parallelism = p, Source = new AiEtl.Engine.Connectors.Memory.InMemorySource("mem", schema, all), OutputSchema = schema, CreateChain = _ => [] });
                var snk = g.Add(new JobVertex { Name = "sink", Parallelism = 1, OutputSchema = schema, IsSink = true, CreateChain = _ => [new SinkOperator(new TwoPhaseListSink("out"), schema)] });
                JobGraph.Connect(src, snk, Partitioning.Rebalance);
                return g;
            }
            JobOptions Options() => new() { DeadLetters = new ListDeadLetters(), Metrics = new EngineMetrics("test"), Store = store };
            await new JobRunner(Job(2), Options()).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
            var e = await Assert.ThrowsAsync<CheckpointIncompatibleException>(() => new JobRunner(Job(3), Options()).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken));
            Assert.Contains("source source:mem", e.Message);
            Assert.Contains("parallelism 2 and now has 3", e.Message);
        }
        finally
        {
            DisposeAll(all);
        }
    }

    [Fact]
    public async Task Running_counts_continue_per_key_after_a_parallelism_change()
    {
        var schema = new Schema.Builder().Field(ColumnTypes.Field("k", ColumnKind.Int64)).Field(ColumnTypes.Field("s", ColumnKind.String)).Build();
        var rnd = new Random(3);
        var batches = new List<Batch>();
        for (var b = 0; b < 40; b++)
        {
            using var bb = new BatchBuilder(schema, 64);
            for (var r = 0; r < 50; r++)
            {
                if (rnd.Next(20) == 0) bb[0].AppendNull(); else bb[0].AppendInt64(rnd.Next(30) - 5);
                bb[1].AppendString("x");
            }
            batches.Add(bb.Build());
        }
        try
        {
            var create = () => (Operator)new RunningCountOperator(schema, "k", "n");
            var wms = new long[batches.Count];
            var expected = await RunSingleAsync(create, batches, wms);
            Assert.Equal(expected, await RunRescaledAsync(create, batches, wms, [0], 2, 3, 17));
            Assert.Equal(expected, await RunRescaledAsync(create, batches, wms, [0], 4, 1, 25));
        }
        finally
        {
            DisposeAll(batches);
        }
    }

    [Fact]
    public async Task String_keyed_running_counts_move_by_the_same_hash_as_the_edge()
    {
        var schema = new Schema.Builder().Field(ColumnTypes.Field("s", ColumnKind.String)).Build();
        string?[] words = ["a", "é", "日本", "", null, "zeta", "b", "😀"];
        var rnd = new Random(5);
        var batches = new List<Batch>();
        for (var b = 0; b < 30; b++)
        {
            using var bb = new BatchBuilder(schema, 64);
            for (var r = 0; r < 40; r++)
            {
                var w = words[rnd.Next(words.Length)];
                if (w == null) bb[0].AppendNull(); else bb[0].AppendString(w);
            }
            batches.Add(bb.Build());
        }
        try
        {
            var create = () => (Operator)new RunningCountOperator(schema, "s", "n");
            var wms = new long[batches.Count];
            var expected = await RunSingleAsync(create, batches, wms);
            Assert.Equal(expected, await RunRescaledAsync(create, batches, wms, [0], 3, 2, 11));
        }
        finally
        {
            DisposeAll(batches);
        }
    }
}
