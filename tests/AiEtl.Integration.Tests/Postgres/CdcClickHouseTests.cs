using System.Globalization;
using System.Text;
using AiEtl.Engine;
using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Postgres;
using AiEtl.Engine.Runtime;
using AiEtl.TestSupport;
using Npgsql;

namespace AiEtl.Integration.Tests.Postgres;

/// <summary>One PostgreSQL and one ClickHouse server for the CDC → ClickHouse tests.</summary>
[CollectionDefinition("cdc-clickhouse")]
public sealed class CdcClickHouseCollection : ICollectionFixture<PostgresFixture>, ICollectionFixture<ClickHouseFixture>;

/// <summary>
/// postgres_cdc → clickhouse_cdc against the real servers: after catch-up, <c>SELECT … FINAL WHERE NOT is_deleted</c>
/// equals the PostgreSQL table row by row (each row rendered to the same text on both sides).
/// </summary>
[Collection("cdc-clickhouse")]
public sealed partial class CdcClickHouseTests(PostgresFixture pg, ClickHouseFixture ch)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string Tables = """
        CREATE TABLE acct (id bigint PRIMARY KEY, i int, n numeric(20,6), t text, big text, ts timestamptz, b bool, u uuid, j jsonb);
        CREATE TABLE line (order_id int, code text, qty int, note text, PRIMARY KEY (order_id, code));
        """;

    // Each row as one text, built alike on both sides (NULL as ~, the TOASTed text by its md5, timestamps as µs).
    private const string AcctPg = """
        SELECT upper(encode(convert_to(concat_ws('|', id::text, coalesce(i::text, '~'), coalesce(n::text, '~'), coalesce(t, '~'),
          coalesce(md5(big), '~'), coalesce((extract(epoch FROM ts) * 1000000)::bigint::text, '~'), coalesce(b::int::text, '~'),
          coalesce(u::text, '~'), coalesce(j::text, '~')), 'UTF8'), 'hex')) FROM acct ORDER BY id
        """;

    private static string AcctCh(string table) => $"""
        SELECT hex(concat(toString(id), '|', ifNull(toString(i), '~'), '|', ifNull(n, '~'), '|', ifNull(t, '~'), '|',
          ifNull(lower(hex(MD5(big))), '~'), '|', ifNull(toString(ts), '~'), '|', ifNull(toString(b), '~'), '|', ifNull(u, '~'), '|', ifNull(j, '~')))
        FROM {table} FINAL WHERE NOT is_deleted ORDER BY id FORMAT TabSeparated
        """;

    private const string LinePg = """
        SELECT upper(encode(convert_to(concat_ws('|', order_id::text, code, coalesce(qty::text, '~'), coalesce(note, '~')), 'UTF8'), 'hex'))
        FROM line ORDER BY order_id, code COLLATE "C"
        """;

    private static string LineCh(string table) => $"""
        SELECT hex(concat(toString(order_id), '|', code, '|', ifNull(toString(qty), '~'), '|', ifNull(note, '~')))
        FROM {table} FINAL WHERE NOT is_deleted ORDER BY order_id, code FORMAT TabSeparated
        """;

    private static ConnectorRegistry Registry() => ClickHouseConnectors.Register(BuiltinConnectors.Create()).AddPostgres();

    private static string Sink(ClickHouseServer s, string db) => $"clickhouse_cdc: {{ url: \"{s.HttpUrl}\", database: {db}, flush_interval: 200ms }}";

    private static async Task<List<string>> PgRows(string cs, string sql)
    {
        var rows = new List<string>();
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync(Ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await using var r = await cmd.ExecuteReaderAsync(Ct);
        while (await r.ReadAsync(Ct)) rows.Add(r.GetString(0));
        return rows;
    }

    private async Task<List<string>> ChRows(string sql)
    {
        try
        {
            return (await ch.Server.QueryAsync(sql, Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        }
        // The table, or a column added mid-stream, may not have reached ClickHouse yet: not caught up, so keep waiting.
        catch (InvalidOperationException e) when (e.Message.Contains("doesn't exist", StringComparison.Ordinal) || e.Message.Contains("UNKNOWN_TABLE", StringComparison.Ordinal) ||
                                                  e.Message.Contains("Unknown identifier", StringComparison.Ordinal) || e.Message.Contains("UNKNOWN_IDENTIFIER", StringComparison.Ordinal))
        {
            return [];
        }
    }

    /// <summary>Waits until ClickHouse's state equals PostgreSQL's; on timeout, fails naming the first differing row.</summary>
    private async Task WaitEqualAsync(string pgCs, string pgSql, string chSql, CdcHarness.Run run, TimeSpan? timeout = null)
    {
        var want = await PgRows(pgCs, pgSql);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(120));
        List<string> got = [];
        while (DateTime.UtcNow < deadline)
        {
            if (run.Task.IsFaulted) await run.Task;
            got = await ChRows(chSql);
            if (got.SequenceEqual(want)) return;
            await Task.Delay(300, Ct);
        }
        var i = 0;
        while (i < want.Count && i < got.Count && want[i] == got[i]) i++;
        static string Text(List<string> l, int i) => i < l.Count ? Encoding.UTF8.GetString(Convert.FromHexString(l[i])) : "(none)";
        var mutations = await ch.Server.QueryAsync("SELECT database, table, command, is_done FROM system.mutations FORMAT TabSeparated", Ct);
        Assert.Fail($"ClickHouse did not catch up: {want.Count} rows in PostgreSQL, {got.Count} in ClickHouse; first difference at row {i}: PostgreSQL {Text(want, i)} / ClickHouse {Text(got, i)}; " +
                    $"pipeline {(run.Task.IsCompleted ? "ended" : "running")}; mutations: {mutations}");
    }

    private static string Q(string s) => "'" + s.Replace("'", "''", StringComparison.Ordinal) + "'";

    private static string AcctRow(Random rng, long id, bool big)
    {
        string N(string v) => rng.Next(8) == 0 ? "NULL" : v;
        var ts = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(rng.NextInt64(0, 5L * 365 * 86400 * 10_000_000L) / 10 * 10);
        var bigText = big ? $"(SELECT string_agg(md5(random()::text || {id}), '') FROM generate_series(1, {200 + rng.Next(300)}))" : N(Q("small " + id));
        return "(" + string.Join(", ",
            id.ToString(CultureInfo.InvariantCulture),
            N(rng.Next(-1000000, 1000000).ToString(CultureInfo.InvariantCulture)),
            N((rng.NextDouble() * 1e9 - 5e8).ToString("F6", CultureInfo.InvariantCulture)),
            N(Q($"text \"{id}\" é ü ' \\ \t tab {rng.Next()}")),
            bigText,
            N(Q(ts.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00")),
            N(rng.Next(2) == 0 ? "true" : "false"),
            N(Q(Guid.NewGuid().ToString())),
            N(Q($$"""{"a": {{rng.Next()}}, "b": [1, 2.5, "x\"y"]}"""))) + ")";
    }

    /// <summary>A random multi-table workload: inserts, updates (most leave the TOASTed text alone), deletes, key changes.</summary>
    private sealed class Workload(int seed)
    {
        private readonly Random _rng = new(seed);
        private readonly List<long> _accts = [];
        private readonly List<(int Order, string Code)> _lines = [];
        private long _nextAcct = 1;
        private int _nextOrder = 1;

        public string Seed(int rows)
        {
            var sb = new StringBuilder();
            for (var i = 0; i < rows; i++)
            {
                sb.Append("INSERT INTO acct VALUES ").Append(AcctRow(_rng, _nextAcct, _rng.Next(5) == 0)).Append(";\n");
                _accts.Add(_nextAcct++);
                AddLine(sb);
            }
            return sb.ToString();
        }

        private void AddLine(StringBuilder sb)
        {
            var order = _nextOrder++;
            var code = "c" + _rng.Next(100).ToString(CultureInfo.InvariantCulture);
            sb.Append($"INSERT INTO line VALUES ({order}, {Q(code)}, {(_rng.Next(6) == 0 ? "NULL" : _rng.Next(100).ToString(CultureInfo.InvariantCulture))}, {Q("note " + order)});\n");
            _lines.Add((order, code));
        }

        /// <summary>One transaction of 1..maxOps operations over both tables.</summary>
        public (string Sql, int Ops) Transaction(int maxOps)
        {
            var sb = new StringBuilder("BEGIN;\n");
            var n = 1 + _rng.Next(maxOps);
            for (var k = 0; k < n; k++)
            {
                var roll = _rng.Next(100);
                if (roll < 25 || _accts.Count < 50)
                {
                    sb.Append("INSERT INTO acct VALUES ").Append(AcctRow(_rng, _nextAcct, _rng.Next(30) == 0)).Append(";\n");
                    _accts.Add(_nextAcct++);
                }
                else if (roll < 35) AddLine(sb);
                else if (roll < 75)
                {
                    var id = _accts[_rng.Next(_accts.Count)];
                    sb.Append(_rng.Next(4) switch
                    {
                        0 => $"UPDATE acct SET i = coalesce(i, 0) + 1, n = n * 2 WHERE id = {id};\n",
                        1 => $"UPDATE acct SET t = NULL, ts = now(), j = jsonb_set(coalesce(j, '{{}}'), '{{z}}', '1') WHERE id = {id};\n",
                        2 => $"UPDATE acct SET big = (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 300)), b = NOT b WHERE id = {id};\n",
                        _ => $"UPDATE acct SET u = NULL, t = 'again ' || {id} WHERE id = {id};\n",
                    });
                }
                else if (roll < 85 && _lines.Count > 0)
                {
                    var at = _rng.Next(_lines.Count);
                    var (order, code) = _lines[at];
                    if (_rng.Next(3) == 0)
                    {
                        // A key change: the row moves to a new code (the old key must disappear in ClickHouse).
                        var moved = code + "m" + _rng.Next(1000).ToString(CultureInfo.InvariantCulture);
                        sb.Append($"UPDATE line SET code = {Q(moved)}, qty = 7 WHERE order_id = {order} AND code = {Q(code)};\n");
                        _lines[at] = (order, moved);
                    }
                    else sb.Append($"UPDATE line SET qty = coalesce(qty, 0) + 1, note = note || 'u' WHERE order_id = {order} AND code = {Q(code)};\n");
                }
                else if (roll < 95 && _accts.Count > 0)
                {
                    var at = _rng.Next(_accts.Count);
                    sb.Append($"DELETE FROM acct WHERE id = {_accts[at]};\n");
                    _accts[at] = _accts[^1];
                    _accts.RemoveAt(_accts.Count - 1);
                }
                else if (_lines.Count > 0)
                {
                    var at = _rng.Next(_lines.Count);
                    sb.Append($"DELETE FROM line WHERE order_id = {_lines[at].Order} AND code = {Q(_lines[at].Code)};\n");
                    _lines[at] = _lines[^1];
                    _lines.RemoveAt(_lines.Count - 1);
                }
            }
            return (sb.Append("COMMIT;\n").ToString(), n);
        }
    }

    private static async Task RunWorkloadAsync(string cs, Workload w, int ops, int maxOps)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync(Ct);
        var done = 0;
        while (done < ops)
        {
            var (sql, n) = w.Transaction(maxOps);
            await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 300 };
            await cmd.ExecuteNonQueryAsync(Ct);
            done += n;
        }
    }

    [Fact]
    public async Task Random_workload_over_two_tables_leaves_FINAL_equal_to_the_source_row_by_row()
    {
        await using var h = await CdcHarness.CreateAsync(pg.Server, "chwork", Ct);
        await CdcHarness.ExecAsync(h.Source, Tables, Ct);
        var w = new Workload(7);
        await CdcHarness.ExecAsync(h.Source, w.Seed(1500), Ct);
        var run = h.Start(h.Yaml("public.acct, public.line", sink: Sink(ch.Server, "chwork")), Registry());
        await RunWorkloadAsync(h.Source, w, 12_000, 60);
        // A truncate mid-stream, then more changes on the emptied table.
        await CdcHarness.ExecAsync(h.Source, "TRUNCATE line", Ct);
        await RunWorkloadAsync(h.Source, w, 3_000, 40);
        await WaitEqualAsync(h.Source, AcctPg, AcctCh("chwork.acct"), run);
        await WaitEqualAsync(h.Source, LinePg, LineCh("chwork.line"), run);
        var result = await run.StopAsync();
        Assert.Equal(0, result.DeadLetters);
        // The DDL the sink chose on this server: a version and a deletion flag, microsecond timestamps.
        var ddl = await ch.Server.QueryAsync("SHOW CREATE TABLE chwork.acct FORMAT TabSeparatedRaw", Ct);
        Assert.Contains("ReplacingMergeTree(_version", ddl, StringComparison.Ordinal);
        Assert.Matches(@"`?is_deleted`? UInt8", ddl);
        Assert.Matches(@"`?ts`? (Nullable\(Int64\)|Nullable\(DateTime64\(6)", ddl);
        Assert.True(await ch.Server.CountAsync("SELECT count() FROM chwork.acct WHERE is_deleted = 1", Ct) > 0, "deletes are rows with is_deleted = 1");
    }

    [Fact]
    public async Task Aborted_runs_restarted_from_their_checkpoints_converge_to_the_source()
    {
        await using var h = await CdcHarness.CreateAsync(pg.Server, "chkill", Ct);
        await CdcHarness.ExecAsync(h.Source, Tables, Ct);
        var w = new Workload(11);
        await CdcHarness.ExecAsync(h.Source, w.Seed(800), Ct);
        var yaml = h.Yaml("public.acct, public.line", sink: Sink(ch.Server, "chkill"), interval: "300ms");
        var rng = new Random(3);
        for (var round = 0; round < 4; round++)
        {
            var run = h.Start(yaml, Registry());
            var writer = RunWorkloadAsync(h.Source, w, 2_000, 50);
            // Abort (no final checkpoint, buffers lost) somewhere while changes stream in.
            await Task.Delay(300 + rng.Next(1500), Ct);
            await run.DisposeAsync();
            await writer;
        }
        var last = h.Start(yaml, Registry());
        await WaitEqualAsync(h.Source, AcctPg, AcctCh("chkill.acct"), last);
        await WaitEqualAsync(h.Source, LinePg, LineCh("chkill.line"), last);
        await last.StopAsync();
    }

    [Fact]
    public async Task An_unchanged_TOAST_value_of_a_row_the_target_never_saw_fails_with_a_clear_message()
    {
        await using var h = await CdcHarness.CreateAsync(pg.Server, "chtoast", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE doc (id int PRIMARY KEY, v int, body text); " +
            "INSERT INTO doc SELECT 1, 1, string_agg(md5(g::text), '') FROM generate_series(1, 400) g", Ct);
        // snapshot: never — the row never reaches ClickHouse, so an update that leaves body alone cannot be completed.
        var run = h.Start(h.Yaml("public.doc", "snapshot: never", Sink(ch.Server, "chtoast")), Registry());
        // The update must come after the slot exists and streams (snapshot: never): wait for an active slot, not a fixed time.
        for (var i = 0; i < 1200 && await CdcHarness.ScalarAsync(h.Source, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{h.Slot}' AND active", Ct) is not 1L; i++)
        {
            Assert.False(run.Task.IsCompleted, "the pipeline ended before its replication slot became active");
            await Task.Delay(100, Ct);
        }
        await CdcHarness.ExecAsync(h.Source, "UPDATE doc SET v = 2 WHERE id = 1", Ct);
        var e = await Assert.ThrowsAnyAsync<Exception>(async () => await run.Task.WaitAsync(TimeSpan.FromSeconds(120), Ct));
        var all = e.ToString();
        Assert.True(all.Contains("TOAST column body unchanged", StringComparison.Ordinal) && all.Contains("REPLICA IDENTITY FULL", StringComparison.Ordinal),
            $"expected the unchanged-TOAST error, got: {all}");
    }

    [Fact]
    public async Task The_example_pipeline_runs_against_real_servers()
    {
        await using var h = await CdcHarness.CreateAsync(pg.Server, "chexample", Ct);
        await CdcHarness.ExecAsync(h.Source, """
            CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(12,2), placed timestamptz);
            CREATE TABLE order_items (order_id bigint, line int, sku text, PRIMARY KEY (order_id, line));
            INSERT INTO orders SELECT g, 'c' || (g % 7), g * 1.25, '2024-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, 500) g;
            INSERT INTO order_items SELECT g / 3 + 1, g % 3, 'sku' || g FROM generate_series(0, 899) g;
            """, Ct);
        var path = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "examples", "postgres-cdc-to-clickhouse.yaml");
        var yaml = File.ReadAllText(path)
            .Replace("Host=localhost;Port=5432;Username=app;Database=shop", h.Source.Replace("\"", "", StringComparison.Ordinal), StringComparison.Ordinal)
            .Replace("http://localhost:8123", ch.Server.HttpUrl, StringComparison.Ordinal)
            .Replace("state/orders-to-clickhouse", h.StateDir, StringComparison.Ordinal);
        Assert.Contains(ch.Server.HttpUrl, yaml, StringComparison.Ordinal);
        var spec = CdcHarness.Load(yaml);
        Assert.IsType<Engine.Spec.ClickHouseCdcSinkSpec>(spec.Sinks[0].Connector);
        var run = h.Start(yaml, Registry());
        await CdcHarness.ExecAsync(h.Source, "UPDATE orders SET amount = amount + 1 WHERE id % 10 = 0; DELETE FROM order_items WHERE line = 2; " +
            "INSERT INTO orders VALUES (1000, 'late', 9.99, now())", Ct);
        const string ordersPg = "SELECT upper(encode(convert_to(concat_ws('|', id::text, customer, amount::text, (extract(epoch FROM placed) * 1000000)::bigint::text), 'UTF8'), 'hex')) FROM orders ORDER BY id";
        const string ordersCh = "SELECT hex(concat(toString(id), '|', ifNull(customer, '~'), '|', ifNull(amount, '~'), '|', ifNull(toString(placed), '~'))) FROM shop.orders FINAL WHERE NOT is_deleted ORDER BY id FORMAT TabSeparated";
        await WaitEqualAsync(h.Source, ordersPg, ordersCh, run);
        // order_items is mapped to shop.items by the example's tables: entry.
        const string itemsPg = "SELECT upper(encode(convert_to(concat_ws('|', order_id::text, line::text, sku), 'UTF8'), 'hex')) FROM order_items ORDER BY order_id, line";
        const string itemsCh = "SELECT hex(concat(toString(order_id), '|', toString(line), '|', ifNull(sku, '~'))) FROM shop.items FINAL WHERE NOT is_deleted ORDER BY order_id, line FORMAT TabSeparated";
        await WaitEqualAsync(h.Source, itemsPg, itemsCh, run);
        await run.StopAsync();
        await pg.Server.ExecuteAsync("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'chexample_src' AND NOT active", Ct);
    }
}
