using System.Globalization;
using System.Text;
using AiEtl.Engine;
using AiEtl.Engine.Hosting;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Postgres;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace AiEtl.Integration.Tests.Postgres;

[Collection("postgres")]
public sealed class PostgresCdcTests(PostgresFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal const string WideTable = """
        CREATE TABLE wide (
          id bigint PRIMARY KEY, i int, s smallint, n numeric(20,6), t text, big text, ts timestamptz, tsl timestamp,
          d date, j jsonb, js json, arr int[], tarr text[], u uuid, b bool, f float8, r real, by bytea)
        """;

    internal static string WideRow(Random rng, long id, bool bigText)
    {
        string Q(string s) => "'" + s.Replace("'", "''", StringComparison.Ordinal) + "'";
        string N(string v) => rng.Next(8) == 0 ? "NULL" : v;
        var big = bigText ? $"(SELECT string_agg(md5(random()::text || {id}), '') FROM generate_series(1, {200 + rng.Next(400)}))" : N(Q("small " + id));
        var ts = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(rng.NextInt64(0, 5L * 365 * 86400 * 10_000_000L) / 10 * 10);
        return "(" + string.Join(", ",
            id.ToString(CultureInfo.InvariantCulture),
            N(rng.Next(-1000000, 1000000).ToString(CultureInfo.InvariantCulture)),
            N(rng.Next(-32768, 32767).ToString(CultureInfo.InvariantCulture)),
            N((rng.NextDouble() * 1e9 - 5e8).ToString("F6", CultureInfo.InvariantCulture)),
            N(Q($"text \"{id}\" é ü ' \\ {rng.Next()}")),
            big,
            N(Q(ts.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00")),
            N(Q(ts.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture))),
            N(Q(ts.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))),
            N(Q($$"""{"a": {{rng.Next()}}, "b": [1, 2.5, "x\"y"], "c": null}""")),
            N(Q($$"""{ "k" : {{rng.Next()}} }""")),
            N(Q($"{{{rng.Next()},NULL,{rng.Next(-5, 5)}}}")),
            N(Q($"{{\"a b\",\"c,d\",NULL,\"e\\\\\\\"f\",x{rng.Next()}}}")),
            N(Q(Guid.NewGuid().ToString())),
            N(rng.Next(2) == 0 ? "true" : "false"),
            N(rng.Next(20) == 0 ? "'NaN'" : (rng.NextDouble() * 1e6).ToString("R", CultureInfo.InvariantCulture)),
            N((rng.NextDouble() * 1000).ToString("R", CultureInfo.InvariantCulture)),
            N($"'\\x{Convert.ToHexString(BitConverter.GetBytes(rng.NextInt64()))}'")) + ")";
    }

    [Fact]
    public async Task Snapshot_while_writes_continue_then_target_equals_source()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "snapwrites", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE items (id bigint PRIMARY KEY, v int, note text); " +
            "INSERT INTO items SELECT g, g % 100, 'n' || g FROM generate_series(1, 60000) g", Ct);
        using var stopWriter = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            var rng = new Random(1);
            long next = 100_000;
            await using var conn = new NpgsqlConnection(h.Source);
            await conn.OpenAsync(Ct);
            while (!stopWriter.IsCancellationRequested)
            {
                var id = rng.Next(1, 60000);
                var sql = rng.Next(3) switch
                {
                    0 => $"INSERT INTO items VALUES ({next++}, 1, 'new')",
                    1 => $"UPDATE items SET v = v + 1, note = note || 'u' WHERE id = {id}",
                    _ => $"DELETE FROM items WHERE id = {id}",
                };
                await using var cmd = new NpgsqlCommand(sql, conn);
                await cmd.ExecuteNonQueryAsync(Ct);
            }
        }, Ct);
        await Task.Delay(300, Ct);
        var run = h.Start(h.Yaml("public.items"));
        await Task.Delay(4000, Ct);
        stopWriter.Cancel();
        await writer;
        await h.WaitEqualAsync("items", Ct, run: run);
        var result = await run.StopAsync();
        Assert.True(result.SourceRows >= 60000 - 5000);
    }

    [Fact]
    public async Task Random_workload_of_100k_operations_leaves_the_target_equal_row_by_row()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "workload", Ct);
        await CdcHarness.ExecAsync(h.Source, WideTable, Ct);
        var rng = new Random(42);
        var live = new List<long>();
        long nextId = 1;
        var sb = new StringBuilder();
        // Seed rows (some with TOASTed text) before the pipeline starts: they arrive through the snapshot.
        for (var i = 0; i < 2000; i++)
        {
            sb.Append("INSERT INTO wide VALUES ").Append(WideRow(rng, nextId, rng.Next(10) == 0)).Append(";\n");
            live.Add(nextId++);
        }
        await CdcHarness.ExecAsync(h.Source, sb.ToString(), Ct);
        var run = h.Start(h.Yaml("public.wide"));
        var ops = 0;
        await using (var conn = new NpgsqlConnection(h.Source))
        {
            await conn.OpenAsync(Ct);
            while (ops < 100_000)
            {
                sb.Clear().Append("BEGIN;\n");
                var n = 1 + rng.Next(400);
                for (var k = 0; k < n; k++, ops++)
                {
                    var roll = rng.Next(100);
                    if (roll < 40 || live.Count < 100)
                    {
                        sb.Append("INSERT INTO wide VALUES ").Append(WideRow(rng, nextId, rng.Next(50) == 0)).Append(";\n");
                        live.Add(nextId++);
                    }
                    else if (roll < 85)
                    {
                        var id = live[rng.Next(live.Count)];
                        // Most updates leave the big (TOASTed) column alone: pgoutput then sends it as unchanged.
                        sb.Append(rng.Next(4) switch
                        {
                            0 => $"UPDATE wide SET i = i + 1, n = n * 2, arr = arr || 7 WHERE id = {id};\n",
                            1 => $"UPDATE wide SET t = NULL, ts = now(), j = jsonb_set(coalesce(j, '{{}}'), '{{z}}', '1') WHERE id = {id};\n",
                            2 => $"UPDATE wide SET big = (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 300)), b = NOT b WHERE id = {id};\n",
                            _ => $"UPDATE wide SET tarr = ARRAY['q', NULL, '{{}}\"'], r = r + 1, by = NULL WHERE id = {id};\n",
                        });
                    }
                    else
                    {
                        var at = rng.Next(live.Count);
                        sb.Append($"DELETE FROM wide WHERE id = {live[at]};\n");
                        live[at] = live[^1];
                        live.RemoveAt(live.Count - 1);
                    }
                }
                sb.Append("COMMIT;");
                await using var cmd = new NpgsqlCommand(sb.ToString(), conn) { CommandTimeout = 300 };
                await cmd.ExecuteNonQueryAsync(Ct);
            }
        }
        Assert.True(Convert.ToInt64(await CdcHarness.ScalarAsync(h.Source, "SELECT count(*) FROM wide WHERE pg_column_size(big) > 4000", Ct), CultureInfo.InvariantCulture) > 10);
        await h.WaitEqualAsync("wide", Ct, run: run, timeout: TimeSpan.FromMinutes(5));
        await run.StopAsync();
        Assert.Equal(0, run.DeadLetters.Count);
    }

    [Fact]
    public async Task Restart_reuses_the_slot_and_delivers_changes_made_while_stopped()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "restart", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'a' FROM generate_series(1, 1000) g", Ct);
        var run = h.Start(h.Yaml("public.t"));
        await h.WaitEqualAsync("t", Ct, run: run);
        await CdcHarness.ExecAsync(h.Source, "UPDATE t SET v = 'b' WHERE id <= 100", Ct);
        await h.WaitEqualAsync("t", Ct, run: run);
        await run.StopAsync();
        var slotBefore = await CdcHarness.ScalarAsync(h.Source, $"SELECT catalog_xmin::text || restart_lsn::text FROM pg_replication_slots WHERE slot_name = '{h.Slot}'", Ct);
        var snapshotBefore = await CdcHarness.ScalarAsync(h.Target, "SELECT snapshot_lsn FROM aietl_cdc_progress", Ct);
        Assert.NotNull(slotBefore);

        await CdcHarness.ExecAsync(h.Source, "INSERT INTO t VALUES (5000, 'while stopped'); DELETE FROM t WHERE id = 7; UPDATE t SET v = 'c' WHERE id = 8", Ct);
        var run2 = h.Start(h.Yaml("public.t"));
        await h.WaitEqualAsync("t", Ct, run: run2);
        var result = await run2.StopAsync();
        Assert.NotNull(result.RestoredFromCheckpoint);
        Assert.Equal(snapshotBefore, await CdcHarness.ScalarAsync(h.Target, "SELECT snapshot_lsn FROM aietl_cdc_progress", Ct));
        Assert.True(result.SourceRows < 100, $"the restart re-read {result.SourceRows} rows: it should only stream what changed");
    }

    [Fact]
    public async Task Terminated_replication_connection_reconnects_and_loses_nothing()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "terminate", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY, v int)", Ct);
        var run = h.Start(h.Yaml("public.t"));
        // Streaming before the first kill: the initial snapshot reads through the snapshot the replication
        // connection exported, which dies with that connection (an empty table compares equal before the snapshot
        // is even read, so a streamed row is waited for; seen once: "invalid snapshot identifier").
        await CdcHarness.ExecAsync(h.Source, "INSERT INTO t VALUES (0, 0)", Ct);
        await h.WaitEqualAsync("t", Ct, run: run);
        var pids = new HashSet<int>();
        for (var round = 0; round < 4; round++)
        {
            await CdcHarness.ExecAsync(h.Source, $"INSERT INTO t SELECT g, {round} FROM generate_series({round * 10000 + 1}, {round * 10000 + 5000}) g", Ct);
            var pid = await WaitActivePidAsync(h, run);
            pids.Add(pid);
            await CdcHarness.ExecAsync(h.Source, $"SELECT pg_terminate_backend({pid})", Ct);
            await CdcHarness.ExecAsync(h.Source, $"INSERT INTO t SELECT g, {round} FROM generate_series({round * 10000 + 5001}, {round * 10000 + 10000}) g; UPDATE t SET v = v + 100 WHERE id % 7 = 0", Ct);
        }
        await h.WaitEqualAsync("t", Ct, run: run);
        pids.Add(await WaitActivePidAsync(h, run));
        Assert.True(pids.Count >= 4, "the replication connection was not re-established");
        await run.StopAsync();
    }

    /// <summary>
    /// A change made after the snapshot reaches the target: the run's checkpoints are then past the snapshot, so a
    /// restart resumes streaming from the slot (stopped earlier, a restart could still take a fresh snapshot, seen
    /// under load when the stop came before the source had read the snapshot's end).
    /// </summary>
    private static async Task StreamedChangeArrivesAsync(CdcHarness h, CdcHarness.Run run)
    {
        await CdcHarness.ExecAsync(h.Source, "INSERT INTO t VALUES (2)", Ct);
        await h.WaitEqualAsync("t", Ct, run: run);
    }

    private static async Task<int> WaitActivePidAsync(CdcHarness h, CdcHarness.Run? run = null)
    {
        for (var i = 0; i < 1200; i++)
        {
            if (run?.Task.IsFaulted == true) await run.Task;
            if (await CdcHarness.ScalarAsync(h.Source, $"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{h.Slot}' AND active", Ct) is int pid) return pid;
            await Task.Delay(50, Ct);
        }
        throw new TimeoutException("no active replication connection");
    }

    [Fact]
    public async Task Schema_change_evolves_the_target_when_asked()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "evolve", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY, a int, gone text); INSERT INTO t SELECT g, g, 'x' FROM generate_series(1, 100) g", Ct);
        var run = h.Start(h.Yaml("public.t", "on_schema_change: evolve"));
        await h.WaitEqualAsync("t", Ct, run: run);
        await CdcHarness.ExecAsync(h.Source, "BEGIN; INSERT INTO t VALUES (101, 101, 'y'); ALTER TABLE t ADD COLUMN extra text, DROP COLUMN gone, ALTER COLUMN a TYPE bigint; " +
            "INSERT INTO t VALUES (102, 5000000000, 'e'); UPDATE t SET extra = 'set' WHERE id <= 10; COMMIT", Ct);
        await h.WaitEqualAsync("t", Ct, "x.id, x.a, x.extra", run);
        Assert.Equal("bigint", await CdcHarness.ScalarAsync(h.Target, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'a'", Ct));
        await run.StopAsync();
    }

    [Fact]
    public async Task Schema_change_stops_the_pipeline_with_a_clear_message_by_default()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "failmode", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY, a int); INSERT INTO t VALUES (1, 1)", Ct);
        var run = h.Start(h.Yaml("public.t"));
        await h.WaitEqualAsync("t", Ct, run: run);
        await CdcHarness.ExecAsync(h.Source, "ALTER TABLE t ADD COLUMN extra text; INSERT INTO t VALUES (2, 2, 'e')", Ct);
        var e = await Assert.ThrowsAsync<PipelineFailedException>(() => run.Task);
        Assert.Contains("public.t changed", e.Message, StringComparison.Ordinal);
        Assert.Contains("added extra", e.Message, StringComparison.Ordinal);
        Assert.Equal(1L, await CdcHarness.ScalarAsync(h.Target, "SELECT count(*) FROM t", Ct));
    }

    [Fact]
    public async Task Heartbeats_advance_the_slot_on_a_filtered_database()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "heartbeat", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE captured (id int PRIMARY KEY); CREATE TABLE noise (id serial PRIMARY KEY, pad text)", Ct);
        var run = h.Start(h.Yaml("public.captured"));
        await WaitActivePidAsync(h);
        // Only the table outside the publication changes: without heartbeats the slot would hold all this WAL.
        await CdcHarness.ExecAsync(h.Source, "INSERT INTO noise (pad) SELECT repeat('x', 500) FROM generate_series(1, 20000)", Ct);
        var walAfterNoise = (NpgsqlTypes.NpgsqlLogSequenceNumber)(await CdcHarness.ScalarAsync(h.Source, "SELECT pg_current_wal_lsn()", Ct))!;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        NpgsqlTypes.NpgsqlLogSequenceNumber confirmed = default;
        while (DateTime.UtcNow < deadline)
        {
            confirmed = (NpgsqlTypes.NpgsqlLogSequenceNumber)(await CdcHarness.ScalarAsync(h.Source, $"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{h.Slot}'", Ct))!;
            if (confirmed > walAfterNoise) break;
            await Task.Delay(250, Ct);
        }
        Assert.True(confirmed > walAfterNoise, $"confirmed {confirmed} did not pass {walAfterNoise}");
        Assert.True(CdcMetrics.SlotLag(h.Slot) is not null, "slot lag was never sampled");
        await run.StopAsync();
    }

    [Fact]
    public async Task Missing_slot_on_restart_fails_loudly()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "noslot", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)", Ct);
        var run = h.Start(h.Yaml("public.t"));
        await h.WaitEqualAsync("t", Ct, run: run);
        await StreamedChangeArrivesAsync(h, run);
        await run.StopAsync();
        await CdcHarness.ExecAsync(h.Source, $"SELECT pg_drop_replication_slot('{h.Slot}')", Ct);
        var run2 = h.Start(h.Yaml("public.t"));
        var e = await Assert.ThrowsAsync<PipelineFailedException>(() => run2.Task);
        Assert.Contains($"replication slot '{h.Slot}' does not exist", e.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await CdcHarness.ScalarAsync(h.Source, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{h.Slot}'", Ct));
    }

    [Fact]
    public async Task Missing_slot_with_on_slot_lost_resnapshot_starts_over_with_a_new_slot_and_snapshot()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "reslot", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')", Ct);
        var yaml = h.Yaml("public.t", extraSource: "on_slot_lost: resnapshot");
        var run = h.Start(yaml);
        await h.WaitEqualAsync("t", Ct, run: run);
        await run.StopAsync();
        await CdcHarness.ExecAsync(h.Source, $"SELECT pg_drop_replication_slot('{h.Slot}')", Ct);
        // Changes made while the slot is gone are not in any stream: only a new snapshot brings them.
        await CdcHarness.ExecAsync(h.Source, "INSERT INTO t SELECT g, 'b' FROM generate_series(2, 300) g; UPDATE t SET v = 'z' WHERE id = 1", Ct);
        var run2 = h.Start(yaml);
        await h.WaitEqualAsync("t", Ct, run: run2);
        Assert.Equal(1L, await CdcHarness.ScalarAsync(h.Source, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{h.Slot}'", Ct));
        // …and streaming continues on the new slot.
        await CdcHarness.ExecAsync(h.Source, "DELETE FROM t WHERE id > 250", Ct);
        await h.WaitEqualAsync("t", Ct, run: run2);
        await run2.StopAsync();
    }

    [Fact]
    public async Task Invalidated_slot_fails_loudly_on_restart()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "lostslot", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1); CREATE TABLE filler (id serial, pad text)", Ct);
        var run = h.Start(h.Yaml("public.t"));
        await h.WaitEqualAsync("t", Ct, run: run);
        await StreamedChangeArrivesAsync(h, run);
        await run.StopAsync();
        await fx.Server.ExecuteAsync("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'", Ct);
        await fx.Server.ExecuteAsync("SELECT pg_reload_conf()", Ct);
        try
        {
            string? status = null;
            // "lost" alone can be shown while the WAL is still there (the slot then still streams): wait until a
            // checkpoint has really invalidated the slot (restart_lsn gone).
            for (var i = 0; i < 40 && status != "lost:true"; i++)
            {
                await CdcHarness.ExecAsync(h.Source, "INSERT INTO t VALUES (100 + " + i + "); INSERT INTO filler (pad) SELECT repeat(md5(g::text), 10) FROM generate_series(1, 20000) g; SELECT pg_switch_wal(); CHECKPOINT", Ct);
                status = (string?)await CdcHarness.ScalarAsync(h.Source, $"SELECT wal_status || ':' || (restart_lsn IS NULL)::text FROM pg_replication_slots WHERE slot_name = '{h.Slot}'", Ct);
            }
            Assert.Equal("lost:true", status);
            var run2 = h.Start(h.Yaml("public.t"));
            var e = await Assert.ThrowsAsync<PipelineFailedException>(() => run2.Task.WaitAsync(TimeSpan.FromMinutes(2), Ct));
            Assert.Contains("wal_status = lost", e.Message, StringComparison.Ordinal);
            Assert.Equal(2L, await CdcHarness.ScalarAsync(h.Target, "SELECT count(*) FROM t", Ct));
        }
        finally
        {
            await fx.Server.ExecuteAsync("ALTER SYSTEM RESET max_slot_wal_keep_size", Ct);
            await fx.Server.ExecuteAsync("SELECT pg_reload_conf()", Ct);
        }
    }

    [Fact]
    public async Task Several_tables_share_one_stream_and_keep_transactions_and_truncates()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "multi", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE SCHEMA sales; CREATE TABLE sales.orders (id bigint PRIMARY KEY, customer int, total numeric(10,2)); " +
            "CREATE TABLE sales.lines (order_id bigint, line int, sku text, qty int, PRIMARY KEY (order_id, line)); CREATE TABLE sales.tmp_scratch (id int PRIMARY KEY); " +
            "CREATE TABLE audit (id serial PRIMARY KEY, msg text); ALTER TABLE audit REPLICA IDENTITY FULL; " +
            "INSERT INTO sales.orders SELECT g, g % 10, g * 1.5 FROM generate_series(1, 300) g; INSERT INTO sales.lines SELECT g, l, 'sku' || l, l FROM generate_series(1, 300) g, generate_series(1, 3) l", Ct);
        var run = h.Start(h.Yaml("\"sales.*\", audit", "exclude: \"*.tmp_*\""));
        await CdcHarness.ExecAsync(h.Source, "BEGIN; INSERT INTO sales.orders VALUES (1000, 1, 9.99); INSERT INTO sales.lines VALUES (1000, 1, 'a', 2), (1000, 2, 'b', 1); " +
            "UPDATE sales.lines SET line = line + 10 WHERE order_id = 5; DELETE FROM sales.orders WHERE id = 7; INSERT INTO audit (msg) VALUES ('x'), ('y'); COMMIT; " +
            "UPDATE audit SET msg = 'z' WHERE msg = 'x'; DELETE FROM audit WHERE msg = 'y'; TRUNCATE sales.lines; INSERT INTO sales.lines VALUES (1, 1, 'after', 1)", Ct);
        await h.WaitEqualAsync("sales.orders", Ct, "x.id, x.customer, x.total", run, targetTable: "orders");
        await h.WaitEqualAsync("sales.lines", Ct, "x.order_id, x.line, x.sku, x.qty", run, targetTable: "lines");
        await h.WaitEqualAsync("audit", Ct, "x.id, x.msg", run);
        Assert.Null(await CdcHarness.ScalarAsync(h.Target, "SELECT to_regclass('tmp_scratch')::text", Ct));
        await run.StopAsync();
    }

    [Fact]
    public async Task Crashes_after_some_batches_then_restarts_from_checkpoints_reach_the_same_state()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "crashes", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY, v int, s text); INSERT INTO t SELECT g, 0, 's' FROM generate_series(1, 20000) g", Ct);
        var rng = new Random(7);
        for (var crash = 0; crash < 4; crash++)
        {
            var failAfter = 3 + rng.Next(10);
            var registry = BuiltinConnectors.Create().AddPostgres()
                .AddSink<PostgresSinkSpec>((c, s, p) => new FailingSink(new PostgresChangeSink(new PostgresSinkOptions { Name = s.Name, ConnectionString = c.Connection, Pipeline = p.Name }), failAfter));
            var run = h.Start(h.Yaml("public.t", "batch_size: 500"), registry);
            for (var k = 0; k < 5; k++)
                await CdcHarness.ExecAsync(h.Source, $"UPDATE t SET v = v + 1, s = s || '{crash}' WHERE id % {2 + rng.Next(20)} = {rng.Next(2)}; " +
                    $"DELETE FROM t WHERE id % 97 = {crash * 5 + k}; INSERT INTO t SELECT g, {crash}, 'i' FROM generate_series({100000 + crash * 1000 + k * 100}, {100000 + crash * 1000 + k * 100 + 99}) g", Ct);
            var e = await Assert.ThrowsAsync<PipelineFailedException>(() => run.Task);
            Assert.Contains("injected failure", e.Message, StringComparison.Ordinal);
        }
        var final = h.Start(h.Yaml("public.t", "batch_size: 500"), BuiltinConnectors.Create().AddPostgres()
            .AddSink<PostgresSinkSpec>((c, s, p) => new FailingSink(new PostgresChangeSink(new PostgresSinkOptions { Name = s.Name, ConnectionString = c.Connection, Pipeline = p.Name }), int.MaxValue)));
        await h.WaitEqualAsync("t", Ct, run: final);
        await final.StopAsync();
    }

    private sealed class FailingSink(ISink inner, int failAfter) : ISink
    {
        public string Name => inner.Name;
        public int MaxParallelism => inner.MaxParallelism;
        public bool AcceptsSchemaChanges => inner.AcceptsSchemaChanges;
        public IReadOnlyList<string> Validate(Schema input) => inner.Validate(input);
        public ISinkWriter CreateWriter(Schema input, ConnectorContext context) => new Writer(inner.CreateWriter(input, context), failAfter);

        private sealed class Writer(ISinkWriter w, int failAfter) : ISinkWriter
        {
            private int _batches;
            public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => w.OpenAsync(restoredState, ct);
            public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
            {
                if (++_batches > failAfter) throw new InvalidOperationException("injected failure");
                await w.WriteAsync(batch, ct);
            }
            public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) => w.PreCommitAsync(checkpointId, ct);
            public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => w.CommitAsync(checkpointId, ct);
            public ValueTask DisposeAsync() => w.DisposeAsync();
        }
    }

    [Fact]
    public async Task Change_logs_go_to_json_lines_and_parquet_file_sinks()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "changelog", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE a (id int PRIMARY KEY, v text, big text); ALTER TABLE a REPLICA IDENTITY FULL; CREATE TABLE b (id bigint PRIMARY KEY, v int, w float8); " +
            "INSERT INTO a VALUES (1, 'one', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 500) g)), (2, 'two', NULL); INSERT INTO b VALUES (1, 10, 0.5)", Ct);
        var jsonl = Path.Combine(h.StateDir, "changes.jsonl");
        var parquet = Path.Combine(h.StateDir, "changes.parquet");
        foreach (var (sink, fresh) in new[] { ($"file: {{ path: {jsonl} }}", true), ($"file: {{ path: {parquet} }}", true) })
        {
            var run = h.Start(h.Yaml("public.*", "snapshot: initial", sink).Replace($"slot: {h.Slot}", $"slot: {h.Slot}_{(sink.Contains("jsonl", StringComparison.Ordinal) ? "j" : "p")}", StringComparison.Ordinal), fresh: fresh);
            await Task.Delay(1500, Ct);
            await CdcHarness.ExecAsync(h.Source, "BEGIN; UPDATE a SET v = 'uno' WHERE id = 1; DELETE FROM b WHERE id = 1; INSERT INTO b VALUES (2, 20, 1.5); COMMIT", Ct);
            await Task.Delay(2500, Ct);
            await run.StopAsync();
            await CdcHarness.ExecAsync(h.Source, "UPDATE a SET v = 'one' WHERE id = 1; INSERT INTO b VALUES (1, 10, 0.5); DELETE FROM b WHERE id = 2", Ct);
            foreach (var f in Directory.EnumerateFiles(h.StateDir, "chk-*")) File.Delete(f);
        }
        var lines = File.ReadAllLines(jsonl);
        Assert.Equal(6, lines.Length);
        var update = Assert.Single(lines, l => l.Contains("\"_table\":\"public.a\",\"_op\":\"u\"", StringComparison.Ordinal));
        Assert.Contains("\"v\":\"uno\"", update, StringComparison.Ordinal);
        // REPLICA IDENTITY FULL: the unchanged TOASTed value comes from the old row instead of a placeholder.
        Assert.Contains("\"_unchanged_toast\":null", update, StringComparison.Ordinal);
        Assert.Contains("\"big\":\"c4ca4238a0b923820dcc509a6f75849b", update, StringComparison.Ordinal);
        Assert.Contains(lines, l => l.Contains("\"_table\":\"public.b\",\"_op\":\"d\"", StringComparison.Ordinal));
        var parts = Directory.GetFiles(parquet + ".parts", "*.parquet");
        Assert.NotEmpty(parts);
        long rows = 0;
        foreach (var p in parts)
        {
            await using var fs = File.OpenRead(p);
            await using var reader = await Parquet.ParquetReader.CreateAsync(fs, cancellationToken: Ct);
            for (var g = 0; g < reader.RowGroupCount; g++) rows += reader.OpenRowGroupReader(g).RowCount;
        }
        Assert.Equal(6, rows);
        await CdcHarness.ExecAsync(h.Source, $"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE '{h.Slot}_%'", Ct);
    }

    [Fact]
    public async Task Hosted_service_runs_the_pipeline_and_stops_with_a_final_checkpoint()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "hosted", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'h' FROM generate_series(1, 500) g", Ct);
        var services = new ServiceCollection();
        services.AddAietlPipeline(CdcHarness.Load(h.Yaml("public.t", interval: "1h")), o => o.Connectors = BuiltinConnectors.Create().AddPostgres());
        await using var provider = services.BuildServiceProvider();
        var hosted = provider.GetServices<IHostedService>().ToList();
        Assert.Single(hosted);
        await hosted[0].StartAsync(Ct);
        await h.WaitEqualAsync("t", Ct);
        await CdcHarness.ExecAsync(h.Source, "UPDATE t SET v = 'changed' WHERE id < 50", Ct);
        await h.WaitEqualAsync("t", Ct);
        Assert.Empty(Directory.GetFiles(h.StateDir, "chk-*.ckpt"));
        await hosted[0].StopAsync(Ct);
        var service = provider.GetRequiredService<AietlPipelineService>();
        var result = await service.Completion;
        Assert.True(result.Stopped);
        Assert.Single(Directory.GetFiles(h.StateDir, "chk-*.ckpt"));
    }
}
