using AiEtl.Engine;
using AiEtl.Engine.Connectors.Memory;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// The engine side of <c>window-agg</c>, through the runtime: an in-memory source (parallelism readers, event
/// time <c>ts</c> with 2 s out-of-orderness, so watermarks flow) → hash edge on <c>k</c> →
/// <see cref="WindowAggregateOperator"/> (1-minute TUMBLE; count(*), sum(amount), avg(amount)) fused with a
/// null sink that checksums the results, parallelism instances.
/// </summary>
public static class WindowAggEngine
{
    public static readonly AggregateSpec[] Aggregates =
    [
        new(AggregateFunction.CountStar, -1, "events"),
        new(AggregateFunction.Sum, WindowAggData.Amount, "total"),
        new(AggregateFunction.Avg, WindowAggData.Amount, "avg_amount"),
    ];

    public static readonly WindowSpec Window = new(WindowKind.Tumble, WindowAggData.Ts, WindowAggData.WindowMicros, 0, 0, 0);

    public static WindowAggregateOperator CreateOperator() => new(WindowAggData.Schema, [WindowAggData.K], Window, Aggregates);

    public static WindowAggResult Run(IReadOnlyList<Batch> input, int parallelism, out long lateRows)
    {
        var proto = CreateOperator();
        var outSchema = proto.OutputSchema;
        var sink = new ChecksumSink();
        var graph = new JobGraph { Name = "window-agg" };
        var src = graph.Add(new JobVertex
        {
            Name = "source",
            Parallelism = parallelism,
            Source = new InMemorySource("events", WindowAggData.Schema, input),
            EventTime = new EventTimeSettings("ts", WindowAggData.MaxOutOfOrderness),
            OutputSchema = WindowAggData.Schema,
            CreateChain = _ => [],
        });
        var agg = graph.Add(new JobVertex
        {
            Name = "aggregate",
            Parallelism = parallelism,
            OutputSchema = outSchema,
            IsSink = true,
            OperatorDescriptions = [proto.Describe(), "sink null"],
            CreateChain = _ => [CreateOperator(), new SinkOperator(sink, outSchema)],
        });
        JobGraph.Connect(src, agg, Partitioning.Hash, [WindowAggData.K]);
        using var metrics = new EngineMetrics("window-agg");
        var letters = new CountingDeadLetters();
        var options = new JobOptions { DeadLetters = letters, Metrics = metrics };
        new JobRunner(graph, options).RunAsync(CancellationToken.None, CancellationToken.None).GetAwaiter().GetResult();
        lateRows = letters.Count;
        return sink.Result;
    }

    /// <summary>A null sink that touches every result: counts rows and sums the aggregate columns.</summary>
    private sealed class ChecksumSink : ISink
    {
        private readonly Lock _lock = new();
        private WindowAggResult _total;

        public WindowAggResult Result
        {
            get { lock (_lock) return _total; }
        }

        public string Name => "null";
        public int MaxParallelism => int.MaxValue;
        public ISinkWriter CreateWriter(Schema input, ConnectorContext context) => new Writer(this);

        private sealed class Writer(ChecksumSink sink) : ISinkWriter
        {
            private long _rows, _events, _keyWindow;
            private double _total, _avg;

            public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => default;

            public ValueTask WriteAsync(Batch batch, CancellationToken ct)
            {
                var k = ((Int64Array)batch.Column(0)).Values;
                var ws = ((TimestampArray)batch.Column(1)).Values;
                var events = ((Int64Array)batch.Column(3)).Values;
                var total = ((DoubleArray)batch.Column(4)).Values;
                var avg = ((DoubleArray)batch.Column(5)).Values;
                for (var i = 0; i < batch.Length; i++)
                {
                    _events += events[i];
                    _total += total[i];
                    _avg += avg[i];
                    _keyWindow += k[i] + ws[i] / WindowAggData.WindowMicros;
                }
                _rows += batch.Length;
                return default;
            }

            public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) => ValueTask.FromResult<byte[]?>(null);

            public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;

            public ValueTask DisposeAsync()
            {
                lock (sink._lock)
                {
                    var t = sink._total;
                    sink._total = new WindowAggResult(t.Rows + _rows, t.Events + _events, t.Total + _total, t.AvgSum + _avg, t.KeyWindowSum + _keyWindow);
                }
                return default;
            }
        }
    }

    /// <summary>Counts dead letters (late rows would land here; the data is built to have none).</summary>
    private sealed class CountingDeadLetters : IDeadLetterOutput
    {
        private long _count;
        public long Count => Interlocked.Read(ref _count);
        public void Write(DeadLetter letter) => Interlocked.Increment(ref _count);
        public ValueTask FlushAsync(CancellationToken ct) => default;
        public ValueTask DisposeAsync() => default;
    }
}
