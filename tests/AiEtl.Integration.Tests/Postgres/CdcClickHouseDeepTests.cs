using System.Text;
using AiEtl.Engine.ClickHouse;
using AiEtl.TestSupport;
using Npgsql;

namespace AiEtl.Integration.Tests.Postgres;

/// <summary>
/// postgres_cdc → clickhouse_cdc with every column type of the PostgreSQL sink's wide workload (TOASTed text, NULLs,
/// numeric, timestamptz, jsonb, arrays, uuid, floats, bytea): 100k operations, SIGKILL of <c>aietl run</c>, schema changes.
/// </summary>
public sealed partial class CdcClickHouseTests
{
    // The wide table (PostgresCdcTests.WideTable) rendered alike on both sides: NULL as ~, the TOASTed text by its md5,
    // timestamps as µs, numeric/uuid/jsonb/json as PostgreSQL's text, arrays as JSON, floats by their IEEE bits, bytea as base64.
    private const string WidePg = """
        SELECT upper(encode(convert_to(concat_ws('|', id::text, coalesce(i::text, '~'), coalesce(s::text, '~'), coalesce(n::text, '~'), coalesce(t, '~'),
          coalesce(md5(big), '~'), coalesce((extract(epoch FROM ts) * 1000000)::bigint::text, '~'), coalesce((extract(epoch FROM tsl) * 1000000)::bigint::text, '~'),
          coalesce(d::text, '~'), coalesce(j::text, '~'), coalesce(js::text, '~'), coalesce(array_to_json(arr)::text, '~'), coalesce(array_to_json(tarr)::text, '~'),
          coalesce(u::text, '~'), coalesce(b::int::text, '~'),
          coalesce(CASE WHEN f = 'NaN' THEN 'NaN' ELSE ltrim(upper(encode(float8send(f), 'hex')), '0') END, '~'),
          coalesce(ltrim(upper(encode(float8send(r::text::float8), 'hex')), '0'), '~'), coalesce(encode(by, 'base64'), '~')), 'UTF8'), 'hex'))
        FROM wide ORDER BY id
        """;

    private static string FloatCh(string c) =>
        $"if(isNull({c}), '~', if(isNaN(assumeNotNull({c})), 'NaN', hex(reverse(reinterpretAsString(assumeNotNull({c}))))))";

    private static string WideCh(string table) => $"""
        SELECT hex(concat(toString(id), '|', ifNull(toString(i), '~'), '|', ifNull(toString(s), '~'), '|', ifNull(n, '~'), '|', ifNull(t, '~'), '|',
          ifNull(lower(hex(MD5(big))), '~'), '|', ifNull(toString(ts), '~'), '|', ifNull(toString(tsl), '~'), '|',
          ifNull(toString(d), '~'), '|', ifNull(j, '~'), '|', ifNull(js, '~'), '|', ifNull(arr, '~'), '|', ifNull(tarr, '~'), '|',
          ifNull(u, '~'), '|', ifNull(toString(b), '~'), '|', {FloatCh("f")}, '|', {FloatCh("r")}, '|', ifNull(by, '~')))
        FROM {table} FINAL WHERE NOT is_deleted ORDER BY id FORMAT TabSeparated
        """;

    /// <summary>Random transactions over the wide table (the PostgreSQL sink's 100k workload, same statements).</summary>
    private sealed class WideWorkload(int seed)
    {
        private readonly Random _rng = new(seed);
        private readonly List<long> _live = [];
        private long _nextId = 1;

        public string Seed(int rows)
        {
            var sb = new StringBuilder();
            for (var i = 0; i < rows; i++)
            {
                sb.Append("INSERT INTO wide VALUES ").Append(PostgresCdcTests.WideRow(_rng, _nextId, _rng.Next(10) == 0)).Append(";\n");
                _live.Add(_nextId++);
            }
            return sb.ToString();
        }

        public (string Sql, int Ops) Transaction(int maxOps)
        {
            var sb = new StringBuilder("BEGIN;\n");
            var n = 1 + _rng.Next(maxOps);
            for (var k = 0; k < n; k++)
            {
                var roll = _rng.Next(100);
                if (roll < 40 || _live.Count < 100)
                {
                    sb.Append("INSERT INTO wide VALUES ").Append(PostgresCdcTests.WideRow(_rng, _nextId, _rng.Next(50) == 0)).Append(";\n");
                    _live.Add(_nextId++);
                }
                else if (roll < 85)
                {
                    var id = _live[_rng.Next(_live.Count)];
                    // Most updates leave the big (TOASTed) column alone: pgoutput sends it as unchanged and the sink fills it in.
                    sb.Append(_rng.Next(4) switch
                    {
                        0 => $"UPDATE wide SET i = i + 1, n = n * 2, arr = arr || 7 WHERE id = {id};\n",
                        1 => $"UPDATE wide SET t = NULL, ts = now(), j = jsonb_set(coalesce(j, '{{}}'), '{{z}}', '1') WHERE id = {id};\n",
                        2 => $"UPDATE wide SET big = (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 300)), b = NOT b WHERE id = {id};\n",
                        _ => $"UPDATE wide SET tarr = ARRAY['q', NULL, '{{}}\"'], r = r + 1, by = NULL WHERE id = {id};\n",
                    });
                }
                else
                {
                    var at = _rng.Next(_live.Count);
                    sb.Append($"DELETE FROM wide WHERE id = {_live[at]};\n");
                    _live[at] = _live[^1];
                    _live.RemoveAt(_live.Count - 1);
                }
            }
            return (sb.Append("COMMIT;\n").ToString(), n);
        }

        public async Task<int> RunAsync(string cs, int ops, int maxOps, CancellationToken stop = default)
        {
            await using var conn = new NpgsqlConnection(cs);
            await conn.OpenAsync(Ct);
            var done = 0;
            while (done < ops && !stop.IsCancellationRequested)
            {
                var (sql, n) = Transaction(maxOps);
                await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 300 };
                await cmd.ExecuteNonQueryAsync(Ct);
                done += n;
            }
            return done;
        }
    }

    [Fact]
    public async Task Typed_workload_of_100k_operations_leaves_FINAL_equal_to_the_source_row_by_row()
    {
        await using var h = await CdcHarness.CreateAsync(pg.Server, "chwide", Ct);
        await CdcHarness.ExecAsync(h.Source, PostgresCdcTests.WideTable, Ct);
        var w = new WideWorkload(42);
        // Seed rows (some TOASTed) arrive through the snapshot; the rest through the stream.
        await CdcHarness.ExecAsync(h.Source, w.Seed(2000), Ct);
        var run = h.Start(h.Yaml("public.wide", sink: Sink(ch.Server, "chwide")), Registry());
        var ops = await w.RunAsync(h.Source, 100_000, 400, Ct);
        Assert.True(ops >= 100_000);
        Assert.True(Convert.ToInt64(await CdcHarness.ScalarAsync(h.Source, "SELECT count(*) FROM wide WHERE pg_column_size(big) > 4000", Ct), System.Globalization.CultureInfo.InvariantCulture) > 10,
            "the workload must hold TOASTed values");
        await WaitEqualAsync(h.Source, WidePg, WideCh("chwide.wide"), run, TimeSpan.FromMinutes(5));
        var result = await run.StopAsync();
        Assert.Equal(0, result.DeadLetters);
        Assert.Equal(0, run.DeadLetters.Count);
    }

    [Fact]
    public async Task Sigkill_of_aietl_run_into_clickhouse_at_ten_random_points_loses_nothing()
    {
        await using var h = await CdcHarness.CreateAsync(pg.Server, "chclikill", Ct);
        await CdcHarness.ExecAsync(h.Source, PostgresCdcTests.WideTable, Ct);
        var w = new WideWorkload(5);
        await CdcHarness.ExecAsync(h.Source, w.Seed(3000), Ct);
        var spec = Path.Combine(h.StateDir, "cdc.yaml");
        await File.WriteAllTextAsync(spec, h.Yaml("public.wide", "batch_size: 1000", Sink(ch.Server, "chclikill"), interval: "200ms"), Ct);
        using var stopWriter = new CancellationTokenSource();
        var writer = Task.Run(() => w.RunAsync(h.Source, int.MaxValue, 60, stopWriter.Token), Ct);
        var rng = new Random(17);
        for (var kill = 0; kill < 10; kill++)
        {
            using var p = CdcCliCrashTests.StartAietl(h.StateDir, spec);
            var stderr = p.StandardError.ReadToEndAsync(Ct);
            await Task.Delay(1000 + rng.Next(3000), Ct);
            Assert.False(p.HasExited, $"aietl exited early ({(p.HasExited ? p.ExitCode : 0)}): {(p.HasExited ? await stderr : "")}");
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync(Ct);
            Assert.False(writer.IsFaulted, "the workload writer failed");
        }
        stopWriter.Cancel();
        var ops = await writer;
        Assert.True(ops > 1000, $"only {ops} operations ran while the pipeline was being killed");
        using (var p = CdcCliCrashTests.StartAietl(h.StateDir, spec))
        {
            var stderr = p.StandardError.ReadToEndAsync(Ct);
            var want = await PgRows(h.Source, WidePg);
            List<string> got = [];
            for (var deadline = DateTime.UtcNow.AddMinutes(3); DateTime.UtcNow < deadline && !p.HasExited; await Task.Delay(300, Ct))
            {
                got = await ChRows(WideCh("chclikill.wide"));
                if (got.SequenceEqual(want)) break;
            }
            Assert.False(p.HasExited, $"aietl exited ({(p.HasExited ? p.ExitCode : 0)}): {(p.HasExited ? await stderr : "")}");
            var i = 0;
            while (i < want.Count && i < got.Count && want[i] == got[i]) i++;
            Assert.True(got.SequenceEqual(want), $"after {ops} operations and 10 kills: {want.Count} rows in PostgreSQL, {got.Count} in ClickHouse, first difference at row {i}: " +
                $"{(i < want.Count ? Encoding.UTF8.GetString(Convert.FromHexString(want[i])) : "(none)")} / {(i < got.Count ? Encoding.UTF8.GetString(Convert.FromHexString(got[i])) : "(none)")}");
            await ServerProcess.SignalAndWaitAsync(p, ServerProcess.SIGINT, TimeSpan.FromSeconds(120), () => stderr, Ct);
            Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {await stderr}");
        }
    }

    private const string EvolvePg = """
        SELECT upper(encode(convert_to(concat_ws('|', id::text, coalesce(a::text, '~'), coalesce(s, '~'), coalesce(extra, '~'), coalesce(amount::text, '~')), 'UTF8'), 'hex'))
        FROM t ORDER BY id
        """;

    [Fact]
    public async Task Schema_change_mid_stream_alters_the_ClickHouse_table_with_evolve()
    {
        await using var h = await CdcHarness.CreateAsync(pg.Server, "chevolve", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY, a int, s text); INSERT INTO t SELECT g, g, 's' || g FROM generate_series(1, 500) g", Ct);
        var run = h.Start(h.Yaml("public.t", "on_schema_change: evolve", Sink(ch.Server, "chevolve")), Registry());
        const string before = "SELECT upper(encode(convert_to(concat_ws('|', id::text, coalesce(a::text, '~'), coalesce(s, '~')), 'UTF8'), 'hex')) FROM t ORDER BY id";
        const string beforeCh = "SELECT hex(concat(toString(id), '|', ifNull(toString(a), '~'), '|', ifNull(s, '~'))) FROM chevolve.t FINAL WHERE NOT is_deleted ORDER BY id FORMAT TabSeparated";
        await WaitEqualAsync(h.Source, before, beforeCh, run);
        // Changes stream in while the table changes: a new column, then int → bigint with a value only bigint holds, then a numeric column.
        var writer = Task.Run(async () =>
        {
            for (var k = 0; k < 200; k++)
                await CdcHarness.ExecAsync(h.Source, $"UPDATE t SET s = s || 'u' WHERE id % 20 = {k % 20}; DELETE FROM t WHERE id = {1 + k * 2}; INSERT INTO t (id, a, s) VALUES ({1000 + k}, {k}, 'w')", Ct);
        }, Ct);
        await CdcHarness.ExecAsync(h.Source, "BEGIN; INSERT INTO t (id, a, s) VALUES (600, 600, 'pre'); ALTER TABLE t ADD COLUMN extra text; " +
            "INSERT INTO t VALUES (601, 601, 'post', 'x'); UPDATE t SET extra = 'set ' || id WHERE id <= 50; COMMIT", Ct);
        await CdcHarness.ExecAsync(h.Source, "ALTER TABLE t ALTER COLUMN a TYPE bigint; INSERT INTO t VALUES (602, 5000000000, 'big', 'y'); UPDATE t SET a = a * 3000000000 WHERE id BETWEEN 100 AND 120", Ct);
        await CdcHarness.ExecAsync(h.Source, "ALTER TABLE t ADD COLUMN amount numeric(12,2); UPDATE t SET amount = id * 1.25 WHERE id % 3 = 0", Ct);
        await writer;
        const string afterCh = "SELECT hex(concat(toString(id), '|', ifNull(toString(a), '~'), '|', ifNull(s, '~'), '|', ifNull(extra, '~'), '|', ifNull(amount, '~'))) " +
                               "FROM chevolve.t FINAL WHERE NOT is_deleted ORDER BY id FORMAT TabSeparated";
        await WaitEqualAsync(h.Source, EvolvePg, afterCh, run);
        var types = await ch.Server.QueryAsync("SELECT name, type FROM system.columns WHERE database = 'chevolve' AND table = 't' AND name IN ('a', 'extra', 'amount') ORDER BY name FORMAT TabSeparated", Ct);
        Assert.Equal("a\tNullable(Int64)\namount\tNullable(String)\nextra\tNullable(String)", types.Trim());
        var result = await run.StopAsync();
        Assert.Equal(0, result.DeadLetters);
    }

    [Fact]
    public async Task Schema_change_mid_stream_stops_the_ClickHouse_pipeline_with_a_clear_message_by_default()
    {
        await using var h = await CdcHarness.CreateAsync(pg.Server, "chfailmode", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY, a int); INSERT INTO t SELECT g, g FROM generate_series(1, 100) g", Ct);
        var run = h.Start(h.Yaml("public.t", sink: Sink(ch.Server, "chfailmode")), Registry());
        const string pgSql = "SELECT upper(encode(convert_to(concat_ws('|', id::text, coalesce(a::text, '~')), 'UTF8'), 'hex')) FROM t ORDER BY id";
        const string chSql = "SELECT hex(concat(toString(id), '|', ifNull(toString(a), '~'))) FROM chfailmode.t FINAL WHERE NOT is_deleted ORDER BY id FORMAT TabSeparated";
        await CdcHarness.ExecAsync(h.Source, "UPDATE t SET a = -a WHERE id <= 10", Ct);
        await WaitEqualAsync(h.Source, pgSql, chSql, run);
        await CdcHarness.ExecAsync(h.Source, "ALTER TABLE t ALTER COLUMN a TYPE bigint; INSERT INTO t VALUES (101, 5000000000)", Ct);
        var e = await Assert.ThrowsAsync<Engine.Runtime.PipelineFailedException>(() => run.Task.WaitAsync(TimeSpan.FromSeconds(120), Ct));
        Assert.Contains("public.t changed", e.Message, StringComparison.Ordinal);
        Assert.Contains("type changed: a", e.Message, StringComparison.Ordinal);
        Assert.Contains("on_schema_change: evolve", e.Message, StringComparison.Ordinal);
        // Nothing of the changed transaction reached ClickHouse; the earlier changes did.
        Assert.Equal(100, await ch.Server.CountAsync("SELECT count() FROM chfailmode.t FINAL WHERE NOT is_deleted", Ct));
        Assert.Equal(0, await ch.Server.CountAsync("SELECT count() FROM chfailmode.t WHERE id = 101", Ct));
        Assert.Equal("Nullable(Int32)", (await ch.Server.QueryAsync("SELECT type FROM system.columns WHERE database = 'chfailmode' AND table = 't' AND name = 'a' FORMAT TabSeparated", Ct)).Trim());
    }

    [Fact]
    public async Task A_value_a_user_created_key_column_cannot_hold_stops_the_pipeline_instead_of_wrapping()
    {
        await using var h = await CdcHarness.CreateAsync(pg.Server, "chnarrow", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE t (id int PRIMARY KEY, a int); INSERT INTO t VALUES (1, 1), (2, 2)", Ct);
        await ch.Server.QueryAsync("CREATE DATABASE IF NOT EXISTS chnarrow", Ct);
        await ch.Server.QueryAsync($"CREATE TABLE chnarrow.t (id Int16, a Nullable(Int32), _lsn Int64, _tx_seq Int64, _commit_time Nullable(Int64), " +
            $"{ClickHouseChangeSinkOptions.VersionColumn} UInt64, {ClickHouseChangeSinkOptions.DeletedColumn} UInt8) ENGINE = ReplacingMergeTree({ClickHouseChangeSinkOptions.VersionColumn}) ORDER BY id", Ct);
        var run = h.Start(h.Yaml("public.t", sink: Sink(ch.Server, "chnarrow")), Registry());
        const string pgSql = "SELECT upper(encode(convert_to(concat_ws('|', id::text, coalesce(a::text, '~')), 'UTF8'), 'hex')) FROM t ORDER BY id";
        const string chSql = "SELECT hex(concat(toString(id), '|', ifNull(toString(a), '~'))) FROM chnarrow.t FINAL WHERE NOT is_deleted ORDER BY id FORMAT TabSeparated";
        await WaitEqualAsync(h.Source, pgSql, chSql, run);
        await CdcHarness.ExecAsync(h.Source, "INSERT INTO t VALUES (40000, 3)", Ct);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => run.Task.WaitAsync(TimeSpan.FromSeconds(120), Ct));
        var all = e.ToString();
        Assert.Contains("key 40000", all, StringComparison.Ordinal);
        Assert.Contains("out of the target's range", all, StringComparison.Ordinal);
        Assert.Equal(0, await ch.Server.CountAsync("SELECT count() FROM chnarrow.t WHERE id NOT IN (1, 2)", Ct));
    }
}

/// <summary>Which existing ClickHouse columns the clickhouse_cdc sink widens when the source's type changes.</summary>
public sealed class ClickHouseChangeWidenTests
{
    [Theory]
    [InlineData("int64", "Nullable(Int32)", "Nullable(Int64)", "Nullable(Int64)")]
    [InlineData("int64", "Int32", "Nullable(Int64)", "Int64")]
    [InlineData("int64", "Nullable(Int64)", "Nullable(Int64)", null)]
    [InlineData("int32", "Nullable(Int64)", "Nullable(Int32)", null)]
    [InlineData("string", "Nullable(Int32)", "Nullable(String)", "Nullable(String)")]
    [InlineData("string", "String", "Nullable(String)", null)]
    public void Widened_type(string input, string have, string natural, string? expected)
    {
        Apache.Arrow.Types.IArrowType type = input switch
        {
            "int64" => Apache.Arrow.Types.Int64Type.Default,
            "int32" => Apache.Arrow.Types.Int32Type.Default,
            _ => Apache.Arrow.Types.StringType.Default,
        };
        Assert.Equal(expected, ClickHouseChangeWriter.Widened(type, ChType.Parse(have), ChType.Parse(natural)));
    }
}
