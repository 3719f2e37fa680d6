using System.Diagnostics;
using System.Globalization;
using AiEtl.Bench.Harness;
using AiEtl.Engine;
using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Postgres;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.TestSupport;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// <c>cdc</c>: PostgreSQL → ClickHouse change data capture on real servers started for the run (the test fixtures).
/// Streaming: 1M inserts + 200k updates + 100k deletes (quick: a tenth) are written while four slots hold the WAL;
/// then, one after the other, the engine pipeline (<c>postgres_cdc</c> → <c>clickhouse_cdc</c>, until ClickHouse holds
/// the last change), the engine's source alone, a bare Npgsql <c>LogicalReplicationConnection</c> loop that decodes
/// every value (<c>npgsql_reader</c>) and <c>pg_recvlogical</c> on the same plugin writing to /dev/null each read it.
/// Snapshot: a 5M-row table (quick: 500k) through the source's snapshot (2 sessions, key ranges) vs
/// <c>COPY … TO STDOUT</c> (<c>copy_out</c>), plus the snapshot end-to-end into ClickHouse.
/// </summary>
public sealed class CdcScenario : IScenario
{
    public string Name => "cdc";

    public string Description => "PostgreSQL -> ClickHouse CDC: 1M inserts + 200k updates + 100k deletes streamed vs pg_recvlogical and a bare Npgsql reader; 5M-row snapshot vs COPY TO STDOUT";

    private const string Columns = "(id bigint PRIMARY KEY, a int, b text, c timestamptz, d numeric(12,2))";
    private static readonly string[] Slots = ["s_engine", "s_source", "s_reader", "s_reader2", "s_recv"];

    public ScenarioReport Run(BenchOptions options, Measurer measurer)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(measurer);
        return RunAsync(options).GetAwaiter().GetResult();
    }

    private static void Log(string s) => Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {s}");

    private static async Task<ScenarioReport> RunAsync(BenchOptions options)
    {
        var scale = options.Rows is { } r ? r / 1_000_000.0 : options.Quick ? 0.1 : 1.0;
        var inserts = (long)(1_000_000 * scale);
        var updates = (long)(200_000 * scale);
        var deletes = (long)(100_000 * scale);
        var events = inserts + updates + deletes;
        var snapRows = (long)(5_000_000 * scale);
        var ct = CancellationToken.None;
        Log("cdc: starting PostgreSQL and ClickHouse");
        await using var pg = await PostgresServer.StartAsync(ct);
        await using var ch = await ClickHouseServer.StartAsync(ct);
        await pg.ExecuteAsync("CREATE DATABASE bench", ct);
        var cs = pg.ConnectionStringFor("bench");
        await ExecAsync(cs, $"CREATE TABLE ev {Columns}; CREATE TABLE snap {Columns}; CREATE PUBLICATION p_ev FOR TABLE ev");
        await using (var rep = new LogicalReplicationConnection(cs))
        {
            await rep.Open(ct);
            foreach (var s in Slots) await rep.CreatePgOutputReplicationSlot(s, cancellationToken: ct);
        }

        Log($"cdc: writing {inserts:N0} inserts, {updates:N0} updates, {deletes:N0} deletes");
        const int chunk = 10_000;
        for (long k = 0; k < inserts; k += chunk)
            await ExecAsync(cs, $"INSERT INTO ev SELECT g, g % 1000, 'name-' || g, now(), g / 100.0 FROM generate_series({k + 1}, {Math.Min(k + chunk, inserts)}) g");
        for (long k = 0; k < updates; k += chunk)
            await ExecAsync(cs, $"UPDATE ev SET a = a + 1, b = b || 'u' WHERE id BETWEEN {k + 1} AND {Math.Min(k + chunk, updates)}");
        for (long k = 0; k < deletes; k += chunk)
            await ExecAsync(cs, $"DELETE FROM ev WHERE id BETWEEN {inserts - k - Math.Min(chunk, deletes - k) + 1} AND {inserts - k}");

        // Peers and engine one after the other (2 shared cores): each reads the same WAL through its own slot.
        Log("cdc: npgsql_reader");
        var (readerSec, readerCpu, lastCommit, lastEnd) = await NpgsqlReaderAsync(cs, "s_reader", events);
        Log($"cdc: npgsql_reader {events / readerSec:N0} events/s; last commit {lastCommit:X}");
        Log("cdc: engine (postgres_cdc -> clickhouse_cdc)");
        var allocBefore = GC.GetTotalAllocatedBytes(true);
        var (engineSec, engineCpu) = await EnginePipelineAsync(cs, ch, "s_engine", "p_ev", "public.ev", SnapshotMode.Never, "evdb",
            $"SELECT max(_lsn) FROM evdb.ev", lastCommit.ToString(CultureInfo.InvariantCulture));
        var engineAlloc = GC.GetTotalAllocatedBytes(true) - allocBefore;
        Log($"cdc: engine {events / engineSec:N0} events/s end to end");
        var check = await ch.QueryAsync("SELECT count() FROM evdb.ev FINAL WHERE NOT is_deleted", ct);
        var want = Convert.ToInt64(await ScalarAsync(cs, "SELECT count(*) FROM ev"), CultureInfo.InvariantCulture);
        if (long.Parse(check.Trim(), CultureInfo.InvariantCulture) != want)
            throw new ResultMismatchException($"cdc: ClickHouse FINAL holds {check.Trim()} rows, PostgreSQL {want}");
        Log("cdc: postgres_cdc source alone");
        var (sourceSec, sourceCpu) = await SourceOnlyAsync(cs, "s_source", "p_ev", "public.ev", SnapshotMode.Never, events);
        Log($"cdc: source {events / sourceSec:N0} events/s");
        // The bare reader again, after the engine (the host is shared and noisy): the faster of its two runs counts.
        var (reader2Sec, reader2Cpu, _, _) = await NpgsqlReaderAsync(cs, "s_reader2", events);
        Log($"cdc: npgsql_reader (second run) {events / reader2Sec:N0} events/s");
        if (reader2Sec < readerSec) (readerSec, readerCpu) = (reader2Sec, reader2Cpu);
        Log("cdc: pg_recvlogical");
        var recvSec = PgRecvLogical(pg, "s_recv", "p_ev", lastEnd);
        Log($"cdc: pg_recvlogical {events / recvSec:N0} events/s");

        Log($"cdc: snapshot table of {snapRows:N0} rows");
        for (long k = 0; k < snapRows; k += 100_000)
            await ExecAsync(cs, $"INSERT INTO snap SELECT g, g % 1000, 'name-' || g, now(), g / 100.0 FROM generate_series({k + 1}, {Math.Min(k + 100_000, snapRows)}) g");
        await ExecAsync(cs, "VACUUM ANALYZE snap; CREATE PUBLICATION p_snap FOR TABLE snap; CREATE PUBLICATION p_snap2 FOR TABLE snap");
        Log("cdc: copy_out");
        var (copySec, copyCpu) = await CopyOutAsync(cs, snapRows);
        Log($"cdc: copy_out {snapRows / copySec:N0} rows/s");
        var (snapSec, snapCpu) = await SourceOnlyAsync(cs, "s_snap", "p_snap", "public.snap", SnapshotMode.Initial, snapRows);
        Log($"cdc: source snapshot {snapRows / snapSec:N0} rows/s");
        var (snapE2eSec, _) = await EnginePipelineAsync(cs, ch, "s_snap2", "p_snap2", "public.snap", SnapshotMode.Initial, "snapdb",
            "SELECT count() FROM snapdb.snap", snapRows.ToString(CultureInfo.InvariantCulture));
        Log($"cdc: snapshot end to end {snapRows / snapE2eSec:N0} rows/s");
        var copySec2 = (await CopyOutAsync(cs, snapRows)).Seconds;
        copySec = Math.Min(copySec, copySec2);

        var report = new ScenarioReport { Scenario = "cdc", Rows = events, Env = EnvInfo.Collect(options) };
        report.Env.Add("postgresql", Path.GetFileName(Path.GetDirectoryName(pg.BinDir)) ?? "").Add("clickhouse_version", ch.Version);
        report.Engine
            .Add("rows_per_s", events / engineSec, 0)
            .Add("events_per_s", events / engineSec, 0)
            .Add("events_per_cpu_s", events / engineCpu, 0)
            .Add("source_events_per_s", events / sourceSec, 0)
            .Add("source_events_per_cpu_s", events / sourceCpu, 0)
            .Add("snapshot_rows_per_s", snapRows / snapSec, 0)
            .Add("snapshot_rows_per_cpu_s", snapRows / snapCpu, 0)
            .Add("snapshot_e2e_rows_per_s", snapRows / snapE2eSec, 0)
            .Add("alloc_bytes_per_row", engineAlloc / (double)events, 1)
            .Add("peak_rss_mb", RssSampler.ReadVmHwm() / 1048576.0, 1);
        report.Peers
            .Add("npgsql_reader", new Figures().Add("rows_per_s", events / readerSec, 0).Add("events_per_cpu_s", events / readerCpu, 0))
            .Add("pg_recvlogical", new Figures().Add("rows_per_s", events / recvSec, 0))
            .Add("copy_out", new Figures().Add("rows_per_s", snapRows / copySec, 0).Add("rows_per_cpu_s", snapRows / copyCpu, 0));
        report.Ratios
            .Add("vs_npgsql_reader", readerSec / engineSec, 3)
            .Add("vs_pg_recvlogical", recvSec / engineSec, 3)
            .Add("source_vs_npgsql_reader", readerSec / sourceSec, 3)
            .Add("snapshot_vs_copy_out", copySec / snapSec, 3)
            .Add("snapshot_e2e_vs_copy_out", copySec / snapE2eSec, 3);
        report.Extra.Add("load", new Figures().Add("inserts", inserts).Add("updates", updates).Add("deletes", deletes).Add("snapshot_rows", snapRows));
        report.Table = new Table("figure", "value")
            .Row("engine end-to-end events/s", (events / engineSec).ToString("N0", CultureInfo.InvariantCulture))
            .Row("engine source-only events/s", (events / sourceSec).ToString("N0", CultureInfo.InvariantCulture))
            .Row("npgsql_reader events/s", (events / readerSec).ToString("N0", CultureInfo.InvariantCulture))
            .Row("pg_recvlogical events/s", (events / recvSec).ToString("N0", CultureInfo.InvariantCulture))
            .Row("vs npgsql_reader", (readerSec / engineSec).ToString("F2", CultureInfo.InvariantCulture))
            .Row("snapshot (source) rows/s", (snapRows / snapSec).ToString("N0", CultureInfo.InvariantCulture))
            .Row("snapshot end-to-end rows/s", (snapRows / snapE2eSec).ToString("N0", CultureInfo.InvariantCulture))
            .Row("copy_out rows/s", (snapRows / copySec).ToString("N0", CultureInfo.InvariantCulture))
            .Row("snapshot vs copy_out", (copySec / snapSec).ToString("F2", CultureInfo.InvariantCulture));
        return report;
    }

    private static async Task ExecAsync(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<object?> ScalarAsync(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        return await cmd.ExecuteScalarAsync();
    }

    private static double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    /// <summary>A bare replication loop: every value of every change read as text; returns the last commit LSN seen.</summary>
    private static async Task<(double Seconds, double Cpu, long LastCommit, long LastEnd)> NpgsqlReaderAsync(string cs, string slot, long events)
    {
        var cpu = Cpu();
        var sw = Stopwatch.StartNew();
        long n = 0, last = 0, lastEnd = 0;
        await using var rep = new LogicalReplicationConnection(cs);
        await rep.Open();
        await foreach (var m in rep.StartReplication(new PgOutputReplicationSlot(slot), new PgOutputReplicationOptions("p_ev", PgOutputProtocolVersion.V1), CancellationToken.None))
        {
            switch (m)
            {
                case InsertMessage i:
                    await foreach (var v in i.NewRow) _ = v.IsDBNull ? null : await v.Get<string>();
                    n++;
                    break;
                case UpdateMessage u:
                    await foreach (var v in u.NewRow) _ = v.IsDBNull ? null : await v.Get<string>();
                    n++;
                    break;
                case KeyDeleteMessage d:
                    await foreach (var v in d.Key) _ = v.IsDBNull ? null : await v.Get<string>();
                    n++;
                    break;
                case FullDeleteMessage d:
                    await foreach (var v in d.OldRow) _ = v.IsDBNull ? null : await v.Get<string>();
                    n++;
                    break;
                case CommitMessage c:
                    last = (long)(ulong)c.CommitLsn;
                    lastEnd = (long)(ulong)c.TransactionEndLsn;
                    rep.SetReplicationStatus(c.TransactionEndLsn);
                    break;
            }
            if (n >= events && m is CommitMessage) break;
        }
        return (sw.Elapsed.TotalSeconds, Cpu() - cpu, last, lastEnd);
    }

    private static PipelinePlan Plan(string cs, ClickHouseServer? ch, string slot, string publication, string include, SnapshotMode snapshot, string db)
    {
        const string checkpoint = "{ interval: 500ms }";
        var sink = ch != null ? "clickhouse_cdc: { url: \"" + ch.HttpUrl + "\", database: " + db + " }" : "null: {}";
        var yaml = $"""
            name: bench-{slot}
            source:
              postgres_cdc:
                connection: "{cs}"
                include: [{include}]
                slot: {slot}
                publication: {publication}
                snapshot: {(snapshot == SnapshotMode.Never ? "never" : "initial")}
                snapshot_parallelism: 2
                snapshot_chunk_rows: 250000
                heartbeat_interval: 0s
            sink:
              {sink}
            checkpoint: {checkpoint}
            delivery: exactly-once
            """;
        var loaded = PipelineSpecLoader.LoadFromString(yaml, "cdc-bench.yaml");
        if (!loaded.IsValid) throw new InvalidOperationException(string.Join("\n", loaded.FormatErrors()));
        return Planner.Plan(loaded.Spec!, ClickHouseConnectors.Register(BuiltinConnectors.Create()).AddPostgres());
    }

    /// <summary>The whole pipeline into ClickHouse, timed until <paramref name="doneSql"/> returns <paramref name="doneValue"/>.</summary>
    private static async Task<(double Seconds, double Cpu)> EnginePipelineAsync(string cs, ClickHouseServer ch, string slot, string publication, string include,
        SnapshotMode snapshot, string db, string doneSql, string doneValue)
    {
        var dir = Directory.CreateTempSubdirectory("aietl-cdc-bench").FullName;
        var cpu = Cpu();
        var sw = Stopwatch.StartNew();
        var plan = Plan(cs, ch, slot, publication, include, snapshot, db);
        using var metrics = new EngineMetrics(plan.Spec.Name);
        var runner = new JobRunner(plan.Graph, new JobOptions
        {
            CheckpointInterval = TimeSpan.FromMilliseconds(500),
            Store = new DirectoryCheckpointStore(dir),
            DeadLetters = new InMemoryDeadLetterOutput(),
            Metrics = metrics,
        });
        using var stop = new CancellationTokenSource();
        using var abort = new CancellationTokenSource();
        var task = Task.Run(() => runner.RunAsync(stop.Token, abort.Token));
        while (true)
        {
            if (task.IsFaulted) await task;
            string got;
            try
            {
                got = (await ch.QueryAsync(doneSql)).Trim();
            }
            catch (InvalidOperationException)
            {
                got = "";
            }
            if (got == doneValue) break;
            await Task.Delay(50);
        }
        var seconds = sw.Elapsed.TotalSeconds;
        var used = Cpu() - cpu;
        stop.Cancel();
        abort.CancelAfter(TimeSpan.FromSeconds(60));
        await task;
        try { Directory.Delete(dir, true); } catch (IOException) { }
        return (seconds, used);
    }

    /// <summary>The CDC source alone, its Arrow batches dropped: the engine's decode (or snapshot) path.</summary>
    private static async Task<(double Seconds, double Cpu)> SourceOnlyAsync(string cs, string slot, string publication, string include, SnapshotMode snapshot, long rows)
    {
        var cpu = Cpu();
        var sw = Stopwatch.StartNew();
        var source = await PostgresCdcSource.OpenAsync(new PostgresCdcOptions
        {
            Name = "bench", ConnectionString = cs, Include = [include], Slot = slot, Publication = publication, Snapshot = snapshot,
            SnapshotChunkRows = Math.Max(50_000, rows / 16), HeartbeatInterval = TimeSpan.Zero,
        }, CancellationToken.None);
        using var metrics = new EngineMetrics("bench");
        var reader = source.CreateReader(new ConnectorContext
        {
            Task = new TaskInfo { Pipeline = "bench", Vertex = "source", Index = 0, Parallelism = 1 },
            DeadLetters = new InMemoryDeadLetterOutput(),
            Metrics = metrics,
        });
        await using (reader)
        {
            long n = 0;
            while (n < rows)
            {
                using var b = await reader.ReadNextBatchAsync(CancellationToken.None);
                if (b == null) break;
                n += b.Length;
            }
        }
        return (sw.Elapsed.TotalSeconds, Cpu() - cpu);
    }

    private static async Task<(double Seconds, double Cpu)> CopyOutAsync(string cs, long rows)
    {
        var cpu = Cpu();
        var sw = Stopwatch.StartNew();
        long copied = 0;
        await using (var conn = new NpgsqlConnection(cs))
        {
            await conn.OpenAsync();
            using var reader = await conn.BeginTextExportAsync("COPY snap TO STDOUT");
            while (await reader.ReadLineAsync() != null) copied++;
        }
        if (copied != rows) throw new ResultMismatchException($"copy_out read {copied} rows, expected {rows}");
        return (sw.Elapsed.TotalSeconds, Cpu() - cpu);
    }

    /// <summary>pg_recvlogical on the same plugin and publication, output to /dev/null, until the WAL position after the load.</summary>
    private static double PgRecvLogical(PostgresServer pg, string slot, string publication, long endLsn)
    {
        var psi = new ProcessStartInfo(Path.Combine(pg.BinDir, "pg_recvlogical"))
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
                 {
                     "-h", "127.0.0.1", "-p", pg.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", "bench",
                     "--slot", slot, "--start", "-o", "proto_version=1", "-o", $"publication_names={publication}",
                     "--endpos", $"{endLsn >> 32:X}/{endLsn & 0xFFFFFFFF:X}", "--no-loop", "-f", "/dev/null",
                 })
            psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var errTask = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill();
            throw new InvalidOperationException("pg_recvlogical did not reach the end position within 5 minutes");
        }
        var err = errTask.GetAwaiter().GetResult();
        var seconds = sw.Elapsed.TotalSeconds;
        if (p.ExitCode != 0) throw new InvalidOperationException($"pg_recvlogical failed ({p.ExitCode}): {err}");
        return seconds;
    }
}
