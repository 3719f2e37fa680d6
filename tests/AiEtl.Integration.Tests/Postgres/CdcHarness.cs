using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Postgres;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.TestSupport;
using Npgsql;

namespace AiEtl.Integration.Tests.Postgres;

/// <summary>A source and a target database on the shared server, and in-process pipeline runs between them.</summary>
internal sealed class CdcHarness : IAsyncDisposable
{
    private readonly PostgresServer _server;
    private readonly List<Run> _runs = [];

    private readonly Func<string, string>? _pipelineConnection;

    private CdcHarness(PostgresServer server, string name, Func<string, string>? pipelineConnection)
    {
        _server = server;
        _pipelineConnection = pipelineConnection;
        Name = name;
        StateDir = ServerProcess.CreateTempDir("cdc-" + name);
    }

    public string Name { get; }
    public string Slot => "aietl_" + Name;
    public string StateDir { get; }
    public string Source => _server.ConnectionStringFor(Name + "_src");
    public string Target => _server.ConnectionStringFor(Name + "_tgt");

    /// <summary>The connection strings the pipeline uses (by default the superuser's <see cref="Source"/> / <see cref="Target"/>).</summary>
    public string PipelineSource => _pipelineConnection?.Invoke(Name + "_src") ?? Source;
    public string PipelineTarget => _pipelineConnection?.Invoke(Name + "_tgt") ?? Target;

    /// <param name="server">The server.</param>
    /// <param name="name">Harness name (databases NAME_src and NAME_tgt).</param>
    /// <param name="ct">Cancellation.</param>
    /// <param name="owner">A role that owns both databases (e.g. a password user the pipeline connects as).</param>
    /// <param name="pipelineConnection">The pipeline's connection string for a database name (default: the superuser's).</param>
    public static async Task<CdcHarness> CreateAsync(PostgresServer server, string name, CancellationToken ct, string? owner = null, Func<string, string>? pipelineConnection = null)
    {
        var h = new CdcHarness(server, name, pipelineConnection);
        var ownerClause = owner is null ? "" : $" OWNER \"{owner}\"";
        await server.ExecuteAsync($"CREATE DATABASE {name}_src{ownerClause}", ct);
        await server.ExecuteAsync($"CREATE DATABASE {name}_tgt{ownerClause}", ct);
        return h;
    }

    public static async Task ExecAsync(string cs, string sql, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 300 };
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public static async Task<object?> ScalarAsync(string cs, string sql, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 300 };
        var v = await cmd.ExecuteScalarAsync(ct);
        return v is DBNull ? null : v;
    }

    public string Yaml(string include, string extraSource = "", string? sink = null, string interval = "250ms")
    {
        var sinkText = sink ?? $"postgres: {{ connection: \"{PipelineTarget}\" }}";
        var lines = new List<string>
        {
            $"name: {Name}",
            "source:",
            "  postgres_cdc:",
            $"    connection: \"{PipelineSource}\"",
            $"    include: [{include}]",
            $"    slot: {Slot}",
            "    snapshot_parallelism: 2",
            "    snapshot_chunk_rows: 5000",
            "    heartbeat_interval: 1s",
        };
        lines.AddRange(extraSource.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "    " + l));
        lines.Add("sink:");
        lines.Add("  " + sinkText);
        lines.Add($"checkpoint: {{ interval: {interval}, dir: {StateDir} }}");
        lines.Add("delivery: exactly-once");
        lines.Add($"dead_letter: {{ file: {Path.Combine(StateDir, "dead.jsonl")} }}");
        return string.Join("\n", lines) + "\n";
    }

    public static PipelineSpec Load(string yaml)
    {
        var loaded = PipelineSpecLoader.LoadFromString(yaml, "test.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
        return loaded.Spec!;
    }

    /// <summary>Starts a run in the background; <paramref name="registry"/> defaults to builtins + PostgreSQL.</summary>
    public Run Start(string yaml, ConnectorRegistry? registry = null, bool fresh = false)
    {
        var spec = Load(yaml);
        var plan = Planner.Plan(spec, registry ?? BuiltinConnectors.Create().AddPostgres());
        var run = new Run(plan, StateDir, fresh);
        _runs.Add(run);
        return run;
    }

    public static string Checksum(string table, string cols = "x") =>
        $"SELECT count(*)::text || ':' || coalesce(md5(string_agg(({cols})::text, E'\\n' ORDER BY ({cols})::text)), '') FROM {table} x";

    /// <summary>Waits until the target table's checksum equals the source's (after the source stops changing).</summary>
    public async Task WaitEqualAsync(string table, CancellationToken ct, string cols = "x", Run? run = null, TimeSpan? timeout = null, string? targetTable = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(120));
        var want = (string?)await ScalarAsync(Source, Checksum(table, cols), ct);
        string? got = null;
        while (DateTime.UtcNow < deadline)
        {
            if (run?.Task.IsFaulted == true) await run.Task;
            try
            {
                got = (string?)await ScalarAsync(Target, Checksum(targetTable ?? table, cols), ct);
            }
            catch (PostgresException e) when (e.SqlState is "42P01" or "42703")
            {
                got = null;
            }
            if (got == want) return;
            await Task.Delay(250, ct);
        }
        Assert.Fail($"target {table} did not catch up: source {want}, target {got}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var r in _runs) await r.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        try
        {
            await _server.ExecuteAsync($"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{Slot}' AND NOT active");
        }
        catch (PostgresException)
        {
        }
        try { Directory.Delete(StateDir, recursive: true); } catch (IOException) { }
    }

    internal sealed class Run : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly CancellationTokenSource _abort = new();

        public Run(PipelinePlan plan, string stateDir, bool fresh)
        {
            Metrics = new EngineMetrics(plan.Spec.Name);
            DeadLetters = new InMemoryDeadLetterOutput();
            var runner = new JobRunner(plan.Graph, new JobOptions
            {
                CheckpointInterval = plan.Spec.Checkpoint?.Interval ?? TimeSpan.FromMilliseconds(250),
                Store = new DirectoryCheckpointStore(stateDir),
                Restore = !fresh,
                DeadLetters = DeadLetters,
                Metrics = Metrics,
            });
            Task = System.Threading.Tasks.Task.Run(() => runner.RunAsync(_stop.Token, _abort.Token));
        }

        public EngineMetrics Metrics { get; }
        public InMemoryDeadLetterOutput DeadLetters { get; }
        public Task<JobResult> Task { get; }

        /// <summary>Graceful stop: drain and take a final checkpoint.</summary>
        public async Task<JobResult> StopAsync()
        {
            _stop.Cancel();
            _abort.CancelAfter(TimeSpan.FromSeconds(60));
            // Bounded by a timer of its own: a run that ignores even the abort fails the test by name instead of
            // hanging the suite (one such hang, never reproduced, was seen once in a full run).
            return await Task.WaitAsync(TimeSpan.FromSeconds(150));
        }

        public async ValueTask DisposeAsync()
        {
            if (!Task.IsCompleted)
            {
                _abort.Cancel();
                if (await System.Threading.Tasks.Task.WhenAny(Task, System.Threading.Tasks.Task.Delay(TimeSpan.FromSeconds(90))) != Task)
                    throw new TimeoutException("the pipeline did not end within 90 s of its abort");
                try { await Task; } catch (Exception) { }
            }
            Metrics.Dispose();
        }
    }
}
