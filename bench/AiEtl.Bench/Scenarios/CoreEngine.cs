using AiEtl.Engine;
using AiEtl.Engine.Connectors.Memory;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using Apache.Arrow;
using Microsoft.Extensions.Logging;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// The engine side of <c>core</c>, through the real runtime: an in-memory source with <c>parallelism</c>
/// readers, the operator chain <c>filter status &lt; 5 → select id, customer_id, amount * qty AS total, ts</c>
/// compiled from expression text, fused with a null sink that counts rows and sums <c>total</c>.
/// </summary>
public static class CoreEngine
{
    public const string Filter = "status < 5";
    public static readonly string[] Select = ["id", "customer_id", "amount * qty AS total", "ts"];

    /// <summary>
    /// Runs the job. <paramref name="observed"/>: with what <c>aietl run --metrics-port</c> adds at default
    /// settings — console logging at Information (scopes on) and the Prometheus collector listening to every
    /// instrument of the run — to show their cost against the plain run.
    /// </summary>
    public static (long Rows, double Checksum) Run(IReadOnlyList<Batch> input, int parallelism, bool observed = false)
    {
        // A process creates its logging once: so does the bench (the console logger's thread outlives the runs).
        var logging = observed ? SharedLogging.Value : null;
        var schema = CoreData.Schema;
        var binder = new Binder(schema);
        var predicate = binder.Bind(ExprParser.Parse(Filter));
        var projections = Select.Select(ExprParser.ParseNamed).Select(n => (n.Alias ?? ((ColumnRef)n.Expr).Name, binder.Bind(n.Expr))).ToList();
        var outSchema = new FilterProjectOperator(schema, predicate, projections).OutputSchema;
        var sink = new CountingSink();
        var graph = new JobGraph { Name = "core" };
        graph.Add(new JobVertex
        {
            Name = "source",
            Parallelism = parallelism,
            Source = new InMemorySource("core", schema, input),
            OutputSchema = outSchema,
            IsSink = true,
            CreateChain = _ => [new FilterProjectOperator(schema, predicate, projections), new SinkOperator(sink, outSchema)],
        });
        using var metrics = new EngineMetrics("core");
        using var exposition = observed ? new AiEtl.Engine.Hosting.PrometheusExposition(metrics) : null;
        var options = new JobOptions { DeadLetters = new NoDeadLetters(), Metrics = metrics, LoggerFactory = logging };
        new JobRunner(graph, options).RunAsync(CancellationToken.None, CancellationToken.None).GetAwaiter().GetResult();
        if (exposition != null && !exposition.Scrape().Contains("aietl_operator_rows_in_total", StringComparison.Ordinal))
            throw new InvalidOperationException("the Prometheus collector saw no engine metrics");
        return (Interlocked.Read(ref sink.Rows), sink.Sum);
    }

    /// <summary>The logging <c>aietl run</c> sets up at default settings, created once per process (shared by the scenarios' observed runs).</summary>
    internal static readonly Lazy<ILoggerFactory> SharedLogging = new(() => LoggerFactory.Create(b => b
        .SetMinimumLevel(LogLevel.Information)
        .AddSimpleConsole(o => { o.SingleLine = true; o.IncludeScopes = true; })
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)));

    /// <summary>A null sink that touches the output: counts rows and sums <c>total</c> (column 2).</summary>
    internal sealed class CountingSink : ISink
    {
        public long Rows;
        private double _sum;
        private readonly Lock _lock = new();
        public double Sum { get { lock (_lock) return _sum; } }
        public string Name => "null";
        public int MaxParallelism => int.MaxValue;
        public ISinkWriter CreateWriter(Schema input, ConnectorContext context) => new Writer(this);

        private sealed class Writer(CountingSink sink) : ISinkWriter
        {
            private long _rows;
            private double _sum;
            public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => default;

            public ValueTask WriteAsync(Batch batch, CancellationToken ct)
            {
                _rows += batch.Length;
                _sum += CoreKernels.Sum(((DoubleArray)batch.Column(2)).Values);
                return default;
            }

            public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) => ValueTask.FromResult<byte[]?>(null);

            public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;

            public ValueTask DisposeAsync()
            {
                Interlocked.Add(ref sink.Rows, _rows);
                lock (sink._lock) sink._sum += _sum;
                return default;
            }
        }
    }

    internal sealed class NoDeadLetters : IDeadLetterOutput
    {
        public long Count => 0;
        public void Write(DeadLetter letter) => throw new InvalidOperationException($"unexpected dead letter: {letter.Error}");
        public ValueTask FlushAsync(CancellationToken ct) => default;
        public ValueTask DisposeAsync() => default;
    }
}
