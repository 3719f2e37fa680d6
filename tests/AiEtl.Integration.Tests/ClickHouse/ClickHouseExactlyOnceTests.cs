using AiEtl.Engine;
using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.Connectors.Generator;
using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using static AiEtl.Integration.Tests.ClickHouse.ChTest;

namespace AiEtl.Integration.Tests.ClickHouse;

/// <summary>Exactly-once into ClickHouse: recovery removes the rows of checkpoints that never completed.</summary>
[Collection("clickhouse")]
public sealed class ClickHouseExactlyOnceTests(ClickHouseFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_restarted_writer_removes_rows_inserted_after_the_restored_checkpoint()
    {
        var t = Table("eo");
        var opts = Options(fx.Server, t, DeliveryGuarantee.ExactlyOnce) with { CreateTable = true, OrderBy = ["id"], BatchRows = 700 };
        byte[] state1;
        await using (var w = Writer(opts, KeySchema))
        {
            await w.OpenAsync(null, Ct);
            using (var b = KeyBatch(0, 1000)) await w.WriteAsync(b, Ct);
            state1 = (await w.PreCommitAsync(1, Ct))!;
            await w.CommitAsync(1, Ct);
            // Checkpoint 2 is pre-committed by this writer but the job crashes before it completes.
            using (var b = KeyBatch(1000, 1500)) await w.WriteAsync(b, Ct);
            Assert.NotNull(await w.PreCommitAsync(2, Ct));
            // Interval 3 has one 700-row insert in the table and 100 rows still buffered when the process dies.
            using (var b = KeyBatch(2500, 800)) await w.WriteAsync(b, Ct);
        }
        Assert.Equal(3200, await Long(fx.Server, $"SELECT count() FROM {t}"));

        // The restart restores checkpoint 1: its rows stay, the later ones go before anything is written.
        await using (var w = Writer(opts, KeySchema))
        {
            await w.OpenAsync(state1, Ct);
            Assert.Equal(1000, await Long(fx.Server, $"SELECT count() FROM {t}"));
            Assert.Equal(499_500, await Long(fx.Server, $"SELECT sum(id) FROM {t}"));
            Assert.True(w.RowsRecovered > 0);
            Assert.Equal(2, w.Epoch);
            // The replay writes the same rows again, now exactly once.
            using (var b = KeyBatch(1000, 1500)) await w.WriteAsync(b, Ct);
            using (var b = KeyBatch(2500, 800)) await w.WriteAsync(b, Ct);
            await w.PreCommitAsync(2, Ct);
        }
        Assert.Equal(3300, await Long(fx.Server, $"SELECT count() FROM {t}"));
        Assert.Equal(3300, await Long(fx.Server, $"SELECT uniqExact(id) FROM {t}"));
        Assert.Equal(3300L * 3299 / 2, await Long(fx.Server, $"SELECT sum(id) FROM {t}"));

        // A fresh start (no restored state) removes everything this writer wrote before.
        await using (var w = Writer(opts, KeySchema))
        {
            await w.OpenAsync(null, Ct);
            Assert.Equal(0, await Long(fx.Server, $"SELECT count() FROM {t}"));
        }
    }

    [Fact]
    public async Task Instance_zero_removes_uncommitted_rows_of_instances_that_no_longer_exist()
    {
        var t = Table("eo_par");
        var opts = Options(fx.Server, t, DeliveryGuarantee.ExactlyOnce) with { CreateTable = true, OrderBy = ["id"] };
        var states = new byte[2][];
        for (var i = 0; i < 2; i++)
        {
            await using var w = Writer(opts, KeySchema, Context(index: i, parallelism: 2));
            await w.OpenAsync(null, Ct);
            using (var b = KeyBatch(i * 100, 100)) await w.WriteAsync(b, Ct);
            states[i] = (await w.PreCommitAsync(1, Ct))!;
            using (var b = KeyBatch(1000 + i * 100, 100)) await w.WriteAsync(b, Ct);
            await w.PreCommitAsync(2, Ct);
        }
        Assert.Equal(400, await Long(fx.Server, $"SELECT count() FROM {t}"));
        // Restart from checkpoint 1 with parallelism 1: instance 1's interval-2 rows must go too.
        await using (var w = Writer(opts, KeySchema, Context(index: 0, parallelism: 1)))
            await w.OpenAsync(states[0], Ct);
        Assert.Equal(200, await Long(fx.Server, $"SELECT count() FROM {t}"));
        Assert.Equal(0, await Long(fx.Server, $"SELECT count() FROM {t} WHERE id >= 1000"));
    }

    [Fact]
    public async Task An_existing_table_with_a_low_cardinality_writer_column_works_for_exactly_once()
    {
        var t = Table("eo_lc");
        using (var http = new HttpClient())
        using (var content = new StringContent($"CREATE TABLE {t} (id Int64, payload String, _aietl_writer LowCardinality(String), _aietl_checkpoint UInt64) ENGINE = MergeTree ORDER BY id"))
        using (var resp = await http.PostAsync(fx.Server.HttpUrl + "/?allow_experimental_low_cardinality_type=1", content, Ct))
            Assert.True(resp.IsSuccessStatusCode, await resp.Content.ReadAsStringAsync(Ct));
        var opts = Options(fx.Server, t, DeliveryGuarantee.ExactlyOnce);
        byte[] state;
        await using (var w = Writer(opts, KeySchema))
        {
            await w.OpenAsync(null, Ct);
            using (var b = KeyBatch(0, 500)) await w.WriteAsync(b, Ct);
            state = (await w.PreCommitAsync(1, Ct))!;
            using (var b = KeyBatch(500, 500)) await w.WriteAsync(b, Ct);
            await w.PreCommitAsync(2, Ct);
        }
        await using (var w = Writer(opts, KeySchema))
            await w.OpenAsync(state, Ct);
        Assert.Equal([["500", "1", "test/ch#0"]], await Rows(fx.Server, $"SELECT count(), max(_aietl_checkpoint), any(_aietl_writer) FROM {t}"));
    }

    /// <summary>Fails the job after a number of batches (crash injection); the description stays the same across runs.</summary>
    private sealed class CrashAfter(Schema schema, CrashSwitch crash) : Operator
    {
        public override string Name => "crash-after";
        public override Schema OutputSchema => schema;

        public override async ValueTask ProcessAsync(Batch batch, IOutput output, CancellationToken ct)
        {
            await Task.Delay(4, ct);
            if (Interlocked.Decrement(ref crash.BatchesLeft) == 0)
            {
                batch.Dispose();
                throw new IOException("injected crash");
            }
            await output.EmitAsync(batch, ct);
        }
    }

    private sealed class CrashSwitch
    {
        public int BatchesLeft = -1;
    }

    [Fact]
    public async Task A_job_that_crashes_three_times_and_restarts_from_checkpoints_loads_each_row_exactly_once()
    {
        var t = Table("eo_job");
        const long Rows = 300_000;
        var generator = new GeneratorOptions { Name = "orders", Rows = Rows, BatchSize = 2000, Seed = 7 };
        var sink = new ClickHouseSink(Options(fx.Server, t, DeliveryGuarantee.ExactlyOnce) with
        {
            CreateTable = true, OrderBy = ["order_id"], BatchRows = 7000, FlushInterval = TimeSpan.FromMilliseconds(30),
        });
        var crash = new CrashSwitch();
        var dir = Path.Combine(Path.GetTempPath(), "aietl-ch-ckpt-" + Guid.NewGuid().ToString("N"));
        var store = new DirectoryCheckpointStore(dir);
        try
        {
            long? lastRestored = null;
            var restoredIds = new List<long>();
            foreach (var crashAfter in new[] { 50, 45, 60, -1 })
            {
                restoredIds.Add(store.LoadLatest()?.Id ?? 0);
                crash.BatchesLeft = crashAfter;
                var source = new GeneratorSource(generator);
                var graph = new JobGraph { Name = "eo-job" };
                var src = graph.Add(new JobVertex { Name = "orders", Parallelism = 2, Source = source, OutputSchema = source.Schema, CreateChain = _ => [] });
                var snk = graph.Add(new JobVertex
                {
                    Name = "sink", Parallelism = 2, IsSink = true, OutputSchema = source.Schema,
                    OperatorDescriptions = ["crash-after", "sink ch"],
                    CreateChain = _ => [new CrashAfter(source.Schema, crash), new SinkOperator(sink, source.Schema)],
                });
                JobGraph.Connect(src, snk, Partitioning.Forward);
                using var metrics = new EngineMetrics("eo-job");
                var options = new JobOptions
                {
                    Store = store, CheckpointInterval = TimeSpan.FromMilliseconds(50), DeadLetters = new InMemoryDeadLetterOutput(), Metrics = metrics,
                    EdgeLimits = new EdgeLimits(20_000, 8 << 20),
                };
                var run = new JobRunner(graph, options).RunAsync(CancellationToken.None, Ct);
                if (crashAfter > 0)
                {
                    await Assert.ThrowsAsync<PipelineFailedException>(() => run);
                    continue;
                }
                var result = await run;
                lastRestored = result.RestoredFromCheckpoint;
            }
            Assert.NotNull(lastRestored);
            Assert.True(restoredIds.Distinct().Count() >= 3, "restarts from checkpoints " + string.Join(", ", restoredIds));
            var expected = ExpectedOrders(generator, 2);
            Assert.Equal(Rows, await Long(fx.Server, $"SELECT count() FROM {t}"));
            Assert.Equal(Rows, await Long(fx.Server, $"SELECT uniqExact(order_id) FROM {t}"));
            Assert.Equal(expected.OrderIds, await Long(fx.Server, $"SELECT sum(order_id) FROM {t}"));
            Assert.Equal(expected.Customers, await Long(fx.Server, $"SELECT sum(customer_id) FROM {t}"));
            Assert.Equal(expected.Qty, await Long(fx.Server, $"SELECT sum(qty) FROM {t}"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>How long the stop-and-resume test freezes the server (the figure is 30 s; CI uses less).</summary>
    private static int PauseSeconds => int.TryParse(Environment.GetEnvironmentVariable("AIETL_CLICKHOUSE_PAUSE_SECONDS"), out var s) ? s : 8;

    [Fact]
    public async Task A_job_backpressures_while_clickhouse_is_frozen_and_loses_nothing_when_it_resumes()
    {
        var t = Table("eo_freeze");
        const long Rows = 400_000;
        var generator = new GeneratorOptions { Name = "orders", Rows = Rows, BatchSize = 2000, Seed = 11, Rate = 50_000 };
        var sink = new ClickHouseSink(Options(fx.Server, t, DeliveryGuarantee.ExactlyOnce) with
        {
            CreateTable = true, OrderBy = ["order_id"], BatchRows = 20_000, BatchBytes = 4 << 20, FlushInterval = TimeSpan.FromMilliseconds(200),
            RequestTimeout = TimeSpan.FromSeconds(2), MaxRetryTime = TimeSpan.FromSeconds(PauseSeconds + 60),
        });
        var source = new GeneratorSource(generator);
        var graph = new JobGraph { Name = "freeze-job" };
        var src = graph.Add(new JobVertex { Name = "orders", Parallelism = 1, Source = source, OutputSchema = source.Schema, CreateChain = _ => [] });
        var snk = graph.Add(new JobVertex
        {
            Name = "sink", Parallelism = 1, IsSink = true, OutputSchema = source.Schema, OperatorDescriptions = ["sink ch"],
            CreateChain = _ => [new SinkOperator(sink, source.Schema)],
        });
        JobGraph.Connect(src, snk, Partitioning.Forward);
        using var metrics = new EngineMetrics("freeze-job");
        var edge = new EdgeLimits(10_000, 4 << 20);
        var run = new JobRunner(graph, new JobOptions
        {
            Store = new InMemoryCheckpointStore(), CheckpointInterval = TimeSpan.FromMilliseconds(500),
            DeadLetters = new InMemoryDeadLetterOutput(), Metrics = metrics, EdgeLimits = edge,
        }).RunAsync(CancellationToken.None, Ct);

        while (Interlocked.Read(ref metrics.SinkRows) < 60_000) await Task.Delay(20, Ct);
        fx.Server.Pause();
        long stalledFrom;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(2), Ct); // the writer's insert times out and starts retrying
            stalledFrom = Interlocked.Read(ref metrics.SourceRows);
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, PauseSeconds - 2)), Ct);
        }
        finally
        {
            fx.Server.Resume();
        }
        var read = Interlocked.Read(ref metrics.SourceRows) - stalledFrom;
        // Backpressure: while frozen the source reads at most what the edge and the writer's buffer can absorb.
        Assert.True(read <= edge.MaxRows + 20_000 + 2 * generator.BatchSize, $"the source read {read} rows while ClickHouse was frozen");
        Assert.True(Interlocked.Read(ref metrics.SourceRows) < Rows, "the source finished while ClickHouse was frozen");
        var result = await run;
        Assert.Equal(Rows, result.SinkRows);
        Assert.Equal(Rows, await Long(fx.Server, $"SELECT count() FROM {t}"));
        Assert.Equal(Rows, await Long(fx.Server, $"SELECT uniqExact(order_id) FROM {t}"));
        Assert.Equal(ExpectedOrders(generator, 1).OrderIds, await Long(fx.Server, $"SELECT sum(order_id) FROM {t}"));
    }

    /// <summary>The checksums of what the generator produces (read directly, all readers).</summary>
    private static (long OrderIds, long Customers, long Qty) ExpectedOrders(GeneratorOptions options, int parallelism)
    {
        long ids = 0, customers = 0, qty = 0;
        var source = new GeneratorSource(options);
        for (var i = 0; i < parallelism; i++)
        {
            var reader = source.CreateReader(Context(index: i, parallelism: parallelism));
            while (reader.ReadNextBatchAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult() is { } b)
            {
                using (b)
                {
                    var o = (Int64Array)b.Column(0);
                    var c = (Int64Array)b.Column(1);
                    var q = (Int32Array)b.Column(3);
                    for (var r = 0; r < b.Length; r++)
                    {
                        ids += o.GetValue(r)!.Value;
                        customers += c.GetValue(r)!.Value;
                        qty += q.GetValue(r)!.Value;
                    }
                }
            }
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        return (ids, customers, qty);
    }
}
