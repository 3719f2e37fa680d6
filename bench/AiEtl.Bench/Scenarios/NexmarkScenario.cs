using System.Diagnostics;
using System.Globalization;
using AiEtl.Bench.Harness;
using AiEtl.Engine;
using AiEtl.Engine.Connectors.Nexmark;
using AiEtl.Engine.Connectors.Sinks;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using DuckDB.NET.Data;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// Nexmark: for each supported query under <c>bench/nexmark/</c>, N events (all three streams' event numbers;
/// the bid source produces the 46 in 50 that are bids) from the in-process generator through the SQL query
/// into a null sink, planned exactly as <c>aietl run</c> plans a spec. Figures per query: events/s, events per
/// CPU-second of the whole process (user + system, generator included), output rows, peak RSS. Peers: the
/// bid generator alone into the null sink, and DuckDB running the same SQL over the same bids held in memory
/// (ending in an aggregate over the query's output so nothing is shipped to .NET). Row counts of engine and
/// DuckDB must agree. Allocation per event: managed bytes allocated by every thread (GC.GetTotalAllocatedBytes
/// deltas) over a run, divided by the events. The <c>engine</c> block aggregates the suite: every query's events over
/// the sum of their best wall (and CPU) times — the rate of running the whole suite once.
/// </summary>
public sealed class NexmarkScenario : IScenario
{
    public const long DefaultEvents = 10_000_000;
    public const long QuickEvents = 1_000_000;

    public static readonly string[] Queries = ["q0", "q1", "q2", "q5", "q7", "q11", "q14", "q15", "q16", "q17", "q21", "q22"];

    public string Name => "nexmark";

    public string Description => "Nexmark q0 q1 q2 q5 q7 q11 q14 q15 q16 q17 q21 q22 (bid stream, in-process generator -> SQL -> null) vs generator alone, duckdb; --kafka: also from the mock broker as JSON";

    private sealed record BenchSinkSpec(NullSink Sink) : SinkConnectorSpec
    {
        public override string Kind => "bench-null";
        public override string Describe() => "null";
    }

    public ScenarioReport Run(BenchOptions options, Measurer measurer)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(measurer);
        var events = options.Rows ?? (options.Quick ? QuickEvents : DefaultEvents);
        var p = options.Parallelism;
        var root = RepoPaths.FindRoot() ?? throw new InvalidOperationException("run from inside the repository (bench/nexmark/ holds the queries)");
        var dir = Path.Combine(root, "bench", "nexmark");

        if (options.KafkaOnly)
        {
            var only = new ScenarioReport { Scenario = Name, Rows = options.KafkaEvents ?? (options.Quick ? KafkaQuickEvents : KafkaDefaultEvents), Env = EnvInfo.Collect(options) };
            var ran = RunKafka(options, measurer, dir, p, null, only);
            AddSuite(only.Engine, ran, "every query run from the broker (JSON, Kafka source; rows = events, the broker's CPU not counted)");
            only.Engine.Add("parallelism", (long)p);
            return only;
        }

        var table = new Harness.Table("query", "events/s", "events/CPU-s", "rows out", "peak RSS MB", "alloc B/event", "duckdb events/s", "vs duckdb");
        var queries = new Figures();
        var engine = new Dictionary<string, (Measurement M, long RowsOut)>();

        var gen = measurer.Measure("generator", events, () => RunEngine(events, p, null), out var bids);
        Log($"nexmark: generator {Rate(gen.RowsPerSecond)} events/s, {Rate(gen.RowsPerCpuSecond)} events/CPU-s, {bids:N0} bids (runs ms: {gen.RunsText})");
        foreach (var q in Queries)
        {
            var sql = File.ReadAllText(Path.Combine(dir, q + ".sql"));
            var m = measurer.Measure(q, events, () => RunEngine(events, p, sql), out var rowsOut);
            engine[q] = (m, rowsOut);
            Log($"nexmark: {q,-4} {Rate(m.RowsPerSecond)} events/s, {Rate(m.RowsPerCpuSecond)} events/CPU-s, {rowsOut:N0} rows, peak RSS {m.PeakRssMb:F0} MB (runs ms: {m.RunsText})");
            queries.Add(q, new Figures()
                .Add("events_per_s", m.RowsPerSecond, 0)
                .Add("events_per_cpu_s", m.RowsPerCpuSecond, 0)
                .Add("rows_out", rowsOut)
                .Add("peak_rss_mb", m.PeakRssMb, 1)
                .Add("alloc_bytes_per_event", m.AllocBytesPerRow, 2)
                .Add("cpu_s", m.Best.CpuSeconds, 3)
                .Add("wall_s", m.Best.WallSeconds, 3));
        }
        Measurer.Settle();

        var duck = new Figures();
        var duckRates = new Dictionary<string, double>();
        var duckWall = 0.0;
        {
            var sw = Stopwatch.StartNew();
            using var db = new NexmarkDuckDb(events, p);
            Log($"nexmark: loaded {db.Bids:N0} bids into DuckDB with the appender in {sw.Elapsed.TotalSeconds:F1} s (threads = {db.Threads})");
            foreach (var q in Queries)
            {
                var file = Path.Combine(dir, q + ".duckdb.sql");
                var sql = File.ReadAllText(File.Exists(file) ? file : Path.Combine(dir, q + ".sql"));
                var m = measurer.Measure("duckdb-" + q, events, () => db.Run(sql), out var rowsOut);
                if (rowsOut != engine[q].RowsOut)
                    throw new ResultMismatchException($"{q}: DuckDB gives {rowsOut:N0} rows, the engine {engine[q].RowsOut:N0}");
                duckRates[q] = m.RowsPerSecond;
                duckWall += m.Best.WallSeconds;
                Log($"nexmark: duckdb {q,-4} {Rate(m.RowsPerSecond)} events/s (runs ms: {m.RunsText})");
                duck.Add(q, new Figures().Add("events_per_s", m.RowsPerSecond, 0).Add("events_per_cpu_s", m.RowsPerCpuSecond, 0));
            }
        }

        foreach (var q in Queries)
        {
            var (m, rowsOut) = engine[q];
            table.Row(q, Rate(m.RowsPerSecond), Rate(m.RowsPerCpuSecond), rowsOut.ToString("N0", CultureInfo.InvariantCulture),
                m.PeakRssMb.ToString("F0", CultureInfo.InvariantCulture), m.AllocBytesPerRow.ToString("F2", CultureInfo.InvariantCulture), Rate(duckRates[q]),
                (m.RowsPerSecond / duckRates[q]).ToString("F2", CultureInfo.InvariantCulture) + "×");
        }
        table.Row("generator", Rate(gen.RowsPerSecond), Rate(gen.RowsPerCpuSecond), bids.ToString("N0", CultureInfo.InvariantCulture), gen.PeakRssMb.ToString("F0", CultureInfo.InvariantCulture),
            gen.AllocBytesPerRow.ToString("F2", CultureInfo.InvariantCulture), "", "");

        var report = new ScenarioReport { Scenario = Name, Rows = events, Env = EnvInfo.Collect(options) };
        var suite = engine.Values.Select(e => e.M).ToList();
        AddSuite(report.Engine, suite, "every query in process (nexmark source -> SQL -> null; rows = events, generator included)");
        var suiteRate = suite.Count * (double)events / suite.Sum(m => m.Best.WallSeconds);
        report.Ratios
            .Add("vs_duckdb", suiteRate / (Queries.Length * (double)events / duckWall), 3)
            .Add("vs_generator", suiteRate / gen.RowsPerSecond, 3);
        report.Engine
            .Add("implementation", "aietl spec: nexmark source (stream bid, event_time date_time) -> SQL transform -> null sink, planned by Planner.Plan")
            .Add("parallelism", (long)p)
            .Add("events", events)
            .Add("bids", bids)
            .Add("event_rate", 10_000L)
            .Add("chunk_events", 16_384L);
        report.Peers
            .Add("generator", new Figures().Add("events_per_s", gen.RowsPerSecond, 0).Add("rows_per_s", gen.RowsPerSecond, 0).Add("events_per_cpu_s", gen.RowsPerCpuSecond, 0)
                .Add("rows_out", bids).Add("alloc_bytes_per_event", gen.AllocBytesPerRow, 2))
            .Add("duckdb", duck.Add("rows_per_s", Queries.Length * (double)events / duckWall, 0)
                .Add("rows_per_s_is", "every query's events over the sum of DuckDB's best wall times (as engine.rows_per_s)"));
        report.Extra.Add("queries", queries);
        report.Table = table;
        report.Notes.Add($"events = event numbers over person/auction/bid (46/50 are bids); per CPU-second = events / process user+sys CPU, generator included; {p} instances");
        if (options.Kafka) RunKafka(options, measurer, dir, p, engine.ToDictionary(kv => kv.Key, kv => (events, kv.Value.RowsOut)), report);
        return report;
    }

    /// <summary>
    /// The suite's figures in <paramref name="engine"/>: rows_per_s = every query's events over the sum of their best wall
    /// times, events_per_cpu_s likewise over CPU times, alloc_bytes_per_row the mean over the queries, peak_rss_mb the largest.
    /// </summary>
    private static void AddSuite(Figures engine, IReadOnlyList<Measurement> suite, string what)
    {
        if (suite.Count == 0) return;
        var events = suite.Sum(m => (double)m.Rows);
        engine
            .Add("rows_per_s", events / suite.Sum(m => m.Best.WallSeconds), 0)
            .Add("rows_per_s_is", $"the events of all queries over the sum of their best wall times: {what}")
            .Add("events_per_cpu_s", events / suite.Sum(m => m.Best.CpuSeconds), 0)
            .Add("alloc_bytes_per_row", suite.Average(m => m.AllocBytesPerRow), 2)
            .Add("alloc_bytes_per_row_max", suite.Max(m => m.AllocBytesPerRow), 2)
            .Add("peak_rss_mb", suite.Max(m => m.PeakRssMb), 1)
            .Add("queries", (long)suite.Count);
    }

    public const long KafkaDefaultEvents = 2_000_000;
    public const long KafkaQuickEvents = 200_000;
    private const int KafkaBrokers = 3;

    /// <summary>
    /// The realistic path: the events as JSON in the mock broker (a child process: its CPU is not counted), each query
    /// through a Kafka-source pipeline planned from YAML into a null sink. Row counts must equal the in-process run's
    /// over the same events (taken from <paramref name="inProcess"/> when it ran that many events, else run here untimed).
    /// Adds <c>kafka</c> to the report's figures and its rows to the table.
    /// </summary>
    private static List<Measurement> RunKafka(BenchOptions options, Measurer measurer, string dir, int p,
        Dictionary<string, (long Events, long RowsOut)>? inProcess, ScenarioReport report)
    {
        var ran = new List<Measurement>();
        var events = options.KafkaEvents ?? (options.Quick ? KafkaQuickEvents : KafkaDefaultEvents);
        var partitions = NexmarkKafka.PartitionsFor(events);
        var topics = NexmarkKafka.Streams.Select((s, i) => (s.Topic, partitions[i])).ToArray();
        Measurer.Settle();
        using var broker = MockBrokerProcess.Start(KafkaBrokers, topics);
        Log($"nexmark kafka: mock broker (pid {broker.Pid}, {KafkaBrokers} brokers) on {broker.BootstrapServers}; topics {string.Join(", ", topics.Select(t => $"{t.Topic} ({t.Item2} partitions)"))}");
        var sw = Stopwatch.StartNew();
        var rows = NexmarkKafka.Load(broker.BootstrapServers, events, partitions);
        var loadSeconds = sw.Elapsed.TotalSeconds;
        var bidCounts = System.Array.Empty<long>();
        for (var s = 0; s < topics.Length; s++)
        {
            var perPartition = AiEtl.Bench.Harness.BenchKafkaLoader.PartitionCounts(broker.BootstrapServers, topics[s].Topic, topics[s].Item2);
            if (topics[s].Topic == "bid") bidCounts = perPartition;
            var held = perPartition.Sum();
            if (held != rows[s])
                throw new InvalidOperationException($"the broker holds {held:N0} {topics[s].Topic} messages after loading {rows[s]:N0}: the mock dropped data (more partitions needed)");
        }
        var bids = rows[^1];
        Log($"nexmark kafka: loaded {events:N0} events as JSON ({rows[0]:N0} persons, {rows[1]:N0} auctions, {bids:N0} bids) in {loadSeconds:F1} s; counts checked against the broker's offsets");

        var figures = new Figures();
        var table = report.Table ?? new Harness.Table("query", "events/s", "events/CPU-s", "rows out", "peak RSS MB", "alloc B/event", "duckdb events/s", "vs duckdb");
        // Peer: bare Confluent.Kafka consumers draining the bid topic (values' lengths summed, nothing decoded): the
        // fetch path's own limit from this broker.
        var consume = measurer.Measure("kafka_consume", events, () => KafkaClickHousePeers.Consume(broker.BootstrapServers, "bid", bidCounts, p), out var consumed);
        if (consumed.Messages != bids) throw new ResultMismatchException($"kafka_consume read {consumed.Messages:N0} bids, the topic holds {bids:N0}");
        Log($"nexmark kafka: kafka_consume {Rate(consume.RowsPerSecond)} events/s, {Rate(consume.RowsPerCpuSecond)} events/CPU-s, {consumed.Bytes / (double)bids:F0} B per bid (runs ms: {consume.RunsText})");
        figures.Add("kafka_consume", new Figures()
            .Add("events_per_s", consume.RowsPerSecond, 0)
            .Add("events_per_cpu_s", consume.RowsPerCpuSecond, 0)
            .Add("messages", consumed.Messages)
            .Add("bytes", consumed.Bytes));
        table.Row("kafka_consume peer", Rate(consume.RowsPerSecond), Rate(consume.RowsPerCpuSecond), consumed.Messages.ToString("N0", CultureInfo.InvariantCulture),
            consume.PeakRssMb.ToString("F0", CultureInfo.InvariantCulture), consume.AllocBytesPerRow.ToString("F2", CultureInfo.InvariantCulture), "", "");
        var run = 0;
        foreach (var q in Queries)
        {
            var sql = File.ReadAllText(Path.Combine(dir, q + ".sql"));
            // Queries that group without a window (q15–q17) do not plan over an unbounded source: they read the
            // topic with stop: latest (a bounded read that ends by itself); the others stream and are stopped.
            var bounded = false;
            if (NexmarkKafka.PlanError(broker.BootstrapServers, sql, p, bounded: false) is { } why)
            {
                if (NexmarkKafka.PlanError(broker.BootstrapServers, sql, p, bounded: true) is { } whyBounded)
                {
                    Log($"nexmark kafka: {q,-4} not run: {whyBounded}");
                    figures.Add(q, new Figures().Add("not_run", whyBounded));
                    continue;
                }
                Log($"nexmark kafka: {q,-4} reads the topic bounded (stop: latest): unbounded it does not plan ({why.Split('\n')[0]})");
                bounded = true;
            }
            var expected = inProcess != null && inProcess.TryGetValue(q, out var ip) && ip.Events == events ? ip.RowsOut : RunEngine(events, p, sql);
            var m = measurer.Measure("kafka-" + q, events, () => NexmarkKafka.Run(broker.BootstrapServers, $"bench-nexmark-{Environment.ProcessId}-{++run}", sql, p, bids, bounded), out var rowsOut);
            if (rowsOut != expected)
                throw new ResultMismatchException($"kafka {q}: {rowsOut:N0} rows from the broker, {expected:N0} in process over the same events");
            ran.Add(m);
            Log($"nexmark kafka: {q,-4} {Rate(m.RowsPerSecond)} events/s, {Rate(m.RowsPerCpuSecond)} events/CPU-s, {rowsOut:N0} rows (= in process), peak RSS {m.PeakRssMb:F0} MB, {m.AllocBytesPerRow:F2} B/event (runs ms: {m.RunsText})");
            figures.Add(q, new Figures()
                .Add("read", bounded ? "bounded (stop: latest), ends by itself" : "unbounded, stopped gracefully once every bid is read")
                .Add("events_per_s", m.RowsPerSecond, 0)
                .Add("events_per_cpu_s", m.RowsPerCpuSecond, 0)
                .Add("bids_per_cpu_s", m.Best.CpuSeconds > 0 ? bids / m.Best.CpuSeconds : 0, 0)
                .Add("rows_out", rowsOut)
                .Add("rows_out_in_process", expected)
                .Add("peak_rss_mb", m.PeakRssMb, 1)
                .Add("alloc_bytes_per_event", m.AllocBytesPerRow, 2)
                .Add("cpu_s", m.Best.CpuSeconds, 3)
                .Add("wall_s", m.Best.WallSeconds, 3));
            table.Row("kafka " + q, Rate(m.RowsPerSecond), Rate(m.RowsPerCpuSecond), rowsOut.ToString("N0", CultureInfo.InvariantCulture),
                m.PeakRssMb.ToString("F0", CultureInfo.InvariantCulture), m.AllocBytesPerRow.ToString("F2", CultureInfo.InvariantCulture), "", "");
        }
        var brokerCpu = broker.CpuSeconds;
        figures.Add("setup", new Figures()
            .Add("events", events)
            .Add("persons", rows[0])
            .Add("auctions", rows[1])
            .Add("bids", bids)
            .Add("partitions", string.Join(",", topics.Select(t => $"{t.Topic}:{t.Item2}")))
            .Add("load_seconds", loadSeconds, 1)
            .Add("broker", $"librdkafka mock cluster ({KafkaBrokers} brokers) in a child process; its CPU ({brokerCpu:F1} s over the whole section) is not in the figures")
            .Add("implementation", "pipeline planned from YAML: kafka source (topic bid, format json, bid schema declared, event_time date_time) -> SQL transform -> null sink; " +
                "stopped gracefully once every bid is read, or (queries grouping without a window: q15-q17) a bounded read with stop: latest that ends by itself")
            .Add("verified_equal", "rows_out of every query = the in-process nexmark source run over the same events"));
        var suite = new Figures();
        AddSuite(suite, ran, "every query run from the broker (JSON, Kafka source; rows = events, the broker's CPU not counted)");
        figures.Add("suite", suite);
        report.Extra.Add("kafka", figures);
        report.Table = table;
        report.Notes.Add($"kafka: {events:N0} events ({bids:N0} bids) as JSON in the mock broker (own process, not counted); events/CPU-s = events / this process's CPU");
        return ran;
    }

    /// <summary>Plans and runs one query (or the generator alone when <paramref name="sql"/> is null); returns rows out.</summary>
    private static long RunEngine(long events, int parallelism, string? sql)
    {
        var sink = new NullSink("null");
        var spec = new PipelineSpec("nexmark", null,
            [new SourceSpec("bid", new NexmarkSourceSpec(NexmarkStreamName.Bid, events, null, null, null, null),
                GeneratorSchemas.For(NexmarkStreamName.Bid), new EventTimeSpec("date_time", TimeSpan.Zero, null, null))],
            sql == null ? null : new SqlTransformSpec(sql),
            [new SinkSpec("null", new BenchSinkSpec(sink))],
            null, null, null, parallelism);
        var registry = BuiltinConnectors.Create().AddSink<BenchSinkSpec>((s, _, _) => s.Sink);
        var plan = Planner.Plan(spec, registry);
        using var metrics = new EngineMetrics("nexmark");
        var letters = new CountingDeadLetters();
        new JobRunner(plan.Graph, new JobOptions { DeadLetters = letters, Metrics = metrics }).RunAsync(CancellationToken.None, CancellationToken.None).GetAwaiter().GetResult();
        if (letters.Count != 0) throw new ResultMismatchException($"{letters.Count} rows went to the dead letters");
        return sink.Rows;
    }

    private sealed class CountingDeadLetters : IDeadLetterOutput
    {
        private long _count;
        public long Count => Interlocked.Read(ref _count);
        public void Write(DeadLetter letter) => Interlocked.Increment(ref _count);
        public ValueTask FlushAsync(CancellationToken ct) => default;
        public ValueTask DisposeAsync() => default;
    }

    public static string Rate(double v) => CoreScenario.Rate(v);

    private static void Log(string line) => Console.Error.WriteLine(line);
}

/// <summary>DuckDB in memory holding the same bids (loaded with the appender, not timed), <c>threads</c> = parallelism.</summary>
public sealed class NexmarkDuckDb : IDisposable
{
    private readonly DuckDBConnection _connection;

    public NexmarkDuckDb(long events, int threads)
    {
        _connection = new DuckDBConnection("Data Source=:memory:");
        _connection.Open();
        Execute("CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, date_time TIMESTAMP, extra VARCHAR)");
        var source = new NexmarkSource(new NexmarkOptions { Name = "bid", Stream = NexmarkStream.Bid, Events = events });
        using (var appender = _connection.CreateAppender("bid"))
        {
            const int chunk = 65_536;
            for (long first = 0; first < events; first += chunk)
            {
                using var b = source.Generate(first, (int)Math.Min(chunk, events - first));
                var auction = ((Int64Array)b.Column(0)).Values;
                var bidder = ((Int64Array)b.Column(1)).Values;
                var price = ((Int64Array)b.Column(2)).Values;
                var channel = (StringArray)b.Column(3);
                var url = (StringArray)b.Column(4);
                var ts = ((TimestampArray)b.Column(5)).Values;
                var extra = (StringArray)b.Column(6);
                for (var i = 0; i < b.Length; i++)
                {
                    appender.CreateRow()
                        .AppendValue(auction[i]).AppendValue(bidder[i]).AppendValue(price[i])
                        .AppendValue(channel.GetString(i)).AppendValue(url.GetString(i))
                        .AppendValue(DateTime.UnixEpoch.AddTicks(ts[i] * 10))
                        .AppendValue(extra.GetString(i))
                        .EndRow();
                }
                Bids += b.Length;
            }
        }
        Execute($"SET threads = {threads}");
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = "SELECT current_setting('threads')";
        Threads = Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public long Bids { get; }
    public int Threads { get; }

    /// <summary>Runs the query ending in an aggregate over every output column (a hash of the row), returns its row count.</summary>
    public long Run(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = $"SELECT count(*), bit_xor(hash(q)) FROM ({StripComments(sql)}) AS q";
        using var reader = cmd.ExecuteReader();
        if (!reader.Read()) throw new InvalidOperationException("DuckDB returned no row");
        return reader.GetInt64(0);
    }

    private static string StripComments(string sql) =>
        string.Join('\n', sql.Split('\n').Where(l => !l.TrimStart().StartsWith("--", StringComparison.Ordinal)));

    private void Execute(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Dispose() => _connection.Dispose();
}
