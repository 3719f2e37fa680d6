using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using AiEtl.Bench.Harness;
using AiEtl.Engine;
using AiEtl.Engine.Connectors.Generator;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Memory;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Bench.Scenarios;

/// <summary>What both contestants of <c>slow-sink</c> run: the same source, operator chain and slow consumer.</summary>
public sealed record SlowSinkSetup
{
    public const string Filter = "status <> 'cancelled'";
    public static readonly string[] Select = ["order_id", "customer_id", "amount * qty AS total", "country", "ts"];

    public required int Parallelism { get; init; }
    public required TimeSpan Duration { get; init; }
    public required TimeSpan Warmup { get; init; }
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan SamplePeriod { get; init; } = TimeSpan.FromMilliseconds(250);
    /// <summary>The sink sleeps this long per 8192 rows written (pro rata for smaller batches).</summary>
    public TimeSpan SinkDelayPer8192Rows { get; init; } = TimeSpan.FromMilliseconds(20);
    public int BatchRows { get; init; } = 8192;
    public EdgeLimits EdgeLimits { get; init; } = EdgeLimits.Default;
    public required TimeSpan PeerMaxDuration { get; init; }
    public long PeerRssLimitBytes { get; init; } = 2L << 30;

    /// <summary>Unbounded orders at full speed.</summary>
    public GeneratorOptions Generator => new() { Kind = GeneratorKind.Orders, Rows = 0, Rate = 0, BatchSize = BatchRows, Seed = 42, Name = "orders" };

    public FilterProjectOperator CreateOperator()
    {
        var schema = GeneratorSource.SchemaOf(GeneratorKind.Orders);
        var binder = new Binder(schema);
        var predicate = binder.Bind(ExprParser.Parse(Filter));
        var projections = Select.Select(ExprParser.ParseNamed).Select(n => (n.Alias ?? ((ColumnRef)n.Expr).Name, binder.Bind(n.Expr))).ToList();
        return new FilterProjectOperator(schema, predicate, projections);
    }
}

/// <summary>One sample of a run's timeline.</summary>
/// <param name="PoolBytes">Native memory held by the shared buffer pool (rented + pooled): the batches' column data.</param>
/// <param name="Gen0Collections">GC.CollectionCount(0) so far.</param>
public readonly record struct TimelineSample(double Seconds, long RssBytes, long SourceRows, long SinkRows, long BlockedTicks, long AllocatedBytes,
    long PoolBytes, int Gen0Collections);

/// <summary>
/// Samples VmRSS and the run's counters every <c>period</c> on its own thread, at fixed offsets from the
/// start (no drift), into a preallocated list: sampling allocates nothing.
/// </summary>
public sealed class Timeline : IDisposable
{
    private readonly VmRssReader _rss;
    private readonly Func<(long SourceRows, long SinkRows, long BlockedTicks)> _probe;
    private readonly List<TimelineSample> _samples;
    private readonly long _periodTicks;
    private readonly Thread _thread;
    private readonly Lock _lock = new();
    private volatile bool _stop;

    public Timeline(VmRssReader rss, TimeSpan period, TimeSpan expected, Func<(long, long, long)> probe)
    {
        _rss = rss;
        _probe = probe;
        _periodTicks = (long)(period.TotalSeconds * Stopwatch.Frequency);
        _samples = new List<TimelineSample>((int)(expected / period) * 2 + 64);
        Start = Stopwatch.GetTimestamp();
        _thread = new Thread(Loop) { IsBackground = true, Name = "timeline", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    public long Start { get; }

    public double Elapsed => Stopwatch.GetElapsedTime(Start).TotalSeconds;

    /// <summary>Takes one sample now (besides the periodic ones).</summary>
    public TimelineSample SampleNow()
    {
        var s = Take();
        lock (_lock) _samples.Add(s);
        return s;
    }

    public IReadOnlyList<TimelineSample> Samples
    {
        get
        {
            lock (_lock) return [.. _samples];
        }
    }

    private TimelineSample Take()
    {
        var (src, sink, blocked) = _probe();
        var pool = BufferPool.Shared;
        return new TimelineSample(Elapsed, _rss.Read(), src, sink, blocked, GC.GetTotalAllocatedBytes(precise: false),
            pool.RentedBytes + pool.PooledBytes, GC.CollectionCount(0));
    }

    private void Loop()
    {
        for (long k = 0; !_stop; k++)
        {
            var due = Start + k * _periodTicks;
            while (!_stop)
            {
                var left = (due - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency;
                if (left <= 0) break;
                Thread.Sleep((int)Math.Min(left, 50));
            }
            if (_stop) return;
            var s = Take();
            lock (_lock) _samples.Add(s);
        }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
    }
}

/// <summary>The slow consumer: sleeps <see cref="SlowSinkSetup.SinkDelayPer8192Rows"/> per 8192 rows of each batch.</summary>
public sealed class SleepingSink(TimeSpan delayPer8192Rows) : ISink
{
    private long _rows;
    private long _batches;

    public string Name => "slow";
    public int MaxParallelism => int.MaxValue;
    public TimeSpan DelayPer8192Rows { get; } = delayPer8192Rows;
    public long Rows => Interlocked.Read(ref _rows);
    public long Batches => Interlocked.Read(ref _batches);

    public ISinkWriter CreateWriter(Schema input, ConnectorContext context) => new Writer(this);

    public Writer CreateWriter() => new(this);

    /// <summary>Sleeps through one reusable timer (<see cref="ReusableDelay"/>): the writer itself adds no garbage per batch.</summary>
    public sealed class Writer(SleepingSink sink) : ISinkWriter
    {
        private readonly ReusableDelay _delay = new();

        public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => default;

        [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
        public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(batch);
            await _delay.DelayAsync(TimeSpan.FromTicks(sink.DelayPer8192Rows.Ticks * batch.Length / 8192), ct).ConfigureAwait(false);
            Interlocked.Add(ref sink._rows, batch.Length);
            Interlocked.Increment(ref sink._batches);
        }

        public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) => ValueTask.FromResult<byte[]?>(null);

        public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;

        public ValueTask DisposeAsync()
        {
            _delay.Dispose();
            return default;
        }
    }
}

/// <summary>The outcome of one contestant's run: its timeline and what happened at the end.</summary>
public sealed class SlowSinkRun
{
    public required string Name { get; init; }
    public required IReadOnlyList<TimelineSample> Samples { get; init; }
    /// <summary>Seconds from the start to the end of the measured part (the stop request, or the peer's cut-off).</summary>
    public required double EndSeconds { get; init; }
    public required int Threads { get; init; }
    public long PeakRssBytes { get; init; }
    public string StopReason { get; init; } = "time";
    // Engine only.
    public double DrainMs { get; init; }
    public bool Drained { get; init; }
    public string DrainCheck { get; init; } = "";
    public JobResult? Result { get; init; }
    // Peer only.
    public long QueuedRowsAtStop { get; init; }
    public long QueuedBatchesAtStop { get; init; }
}

/// <summary>The two contestants of <c>slow-sink</c>.</summary>
public static class SlowSinkRuns
{
    /// <summary>
    /// The engine: generator → filter + select (source vertex) → forward edge bounded by rows/bytes → sleeping
    /// sink (sink vertex), stopped gracefully after the duration; checks that it drains and returns.
    /// </summary>
    public static SlowSinkRun RunEngine(SlowSinkSetup setup, VmRssReader rss, RssSampler sampler, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(setup);
        ArgumentNullException.ThrowIfNull(rss);
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(log);
        var op = setup.CreateOperator();
        var outSchema = op.OutputSchema;
        var sink = new SleepingSink(setup.SinkDelayPer8192Rows);
        var graph = new JobGraph { Name = "slow-sink" };
        var src = graph.Add(new JobVertex
        {
            Name = "source",
            Parallelism = setup.Parallelism,
            Source = new GeneratorSource(setup.Generator),
            OutputSchema = outSchema,
            CreateChain = _ => [setup.CreateOperator()],
        });
        var snk = graph.Add(new JobVertex
        {
            Name = "sink",
            Parallelism = setup.Parallelism,
            OutputSchema = outSchema,
            IsSink = true,
            CreateChain = _ => [new SinkOperator(sink, outSchema)],
        });
        JobGraph.Connect(src, snk, Partitioning.Forward);

        using var metrics = new EngineMetrics("slow-sink");
        using var counts = new OperatorRows(op.Name, "sink:" + sink.Name);
        var options = new JobOptions { DeadLetters = new NoDeadLetters(), Metrics = metrics, EdgeLimits = setup.EdgeLimits };
        using var stop = new CancellationTokenSource();
        using var abort = new CancellationTokenSource();
        Measurer.Settle();
        sampler.ResetWindow();
        using var timeline = new Timeline(rss, setup.SamplePeriod, setup.Duration,
            () => (Interlocked.Read(ref metrics.SourceRows), Interlocked.Read(ref metrics.SinkRows), Interlocked.Read(ref metrics.BackpressureTicks)));
        var run = Task.Run(() => new JobRunner(graph, options).RunAsync(stop.Token, abort.Token));
        var nextLog = 10.0;
        while (timeline.Elapsed < setup.Duration.TotalSeconds && !run.IsCompleted)
        {
            Thread.Sleep(100);
            if (timeline.Elapsed >= nextLog)
            {
                var s = timeline.Samples[^1];
                log($"slow-sink: engine t={s.Seconds:F0}s RSS {s.RssBytes / 1048576.0:F0} MB, source {s.SourceRows:N0} rows, sink {s.SinkRows:N0} rows");
                nextLog += 10;
            }
        }
        if (run.IsCompleted) run.GetAwaiter().GetResult(); // an early end is a failure: surface it
        var end = timeline.SampleNow();
        var stopAt = Stopwatch.GetTimestamp();
        stop.Cancel();
        if (!run.Wait(TimeSpan.FromSeconds(60)))
        {
            abort.Cancel();
            throw new ResultMismatchException("the engine did not drain within 60 s of the graceful stop");
        }
        var result = run.GetAwaiter().GetResult();
        var drainMs = Stopwatch.GetElapsedTime(stopAt).TotalMilliseconds;
        timeline.SampleNow();
        var peak = sampler.WindowMax;

        // Drained: every row the source produced went into the operator, and everything the operator emitted
        // reached the sink (nothing was left in the edge when RunAsync returned).
        var check = $"source {result.SourceRows:N0} = filter in {counts.In:N0}; filter out {counts.Out:N0} = sink in {counts.SinkIn:N0} = sink written {sink.Rows:N0} = SinkRows {result.SinkRows:N0}; stopped {result.Stopped}";
        var drained = result.Stopped && result.SourceRows == counts.In && counts.Out == counts.SinkIn && counts.SinkIn == sink.Rows && sink.Rows == result.SinkRows;
        if (!drained) throw new ResultMismatchException("the engine did not drain after the graceful stop: " + check);
        return new SlowSinkRun
        {
            Name = "engine",
            Samples = timeline.Samples,
            EndSeconds = end.Seconds,
            Threads = setup.Parallelism,
            PeakRssBytes = peak,
            DrainMs = drainMs,
            Drained = drained,
            DrainCheck = check,
            Result = result,
        };
    }

    /// <summary>
    /// The naive peer: the same generator readers and operator, each producer writing into one unbounded
    /// <see cref="Channel"/> read by the same sleeping consumers; runs until RSS passes the limit or the time is up.
    /// </summary>
    public static SlowSinkRun RunUnboundedChannel(SlowSinkSetup setup, VmRssReader rss, RssSampler sampler, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(setup);
        ArgumentNullException.ThrowIfNull(rss);
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(log);
        var p = setup.Parallelism;
        var source = new GeneratorSource(setup.Generator);
        var sink = new SleepingSink(setup.SinkDelayPer8192Rows);
        var channel = Channel.CreateUnbounded<Batch>(new UnboundedChannelOptions { SingleReader = p == 1, SingleWriter = p == 1 });
        long sourceRows = 0, queuedRows = 0;
        using var metrics = new EngineMetrics("slow-sink-peer");
        using var cts = new CancellationTokenSource();
        var ct = cts.Token;
        Measurer.Settle();
        sampler.ResetWindow();
        using var timeline = new Timeline(rss, setup.SamplePeriod, setup.PeerMaxDuration,
            () => (Interlocked.Read(ref sourceRows), sink.Rows, 0L));

        var producers = Enumerable.Range(0, p).Select(i => Task.Run(async () =>
        {
            var op = setup.CreateOperator();
            var context = new ConnectorContext
            {
                Task = new TaskInfo { Pipeline = "slow-sink-peer", Vertex = "source", Index = i, Parallelism = p },
                DeadLetters = new NoDeadLetters(),
                Metrics = metrics,
            };
            await using var reader = source.CreateReader(context);
            while (!ct.IsCancellationRequested)
            {
                var batch = await reader.ReadNextBatchAsync(ct).ConfigureAwait(false);
                if (batch == null) break;
                Interlocked.Add(ref sourceRows, batch.Length);
                Batch? output;
                try
                {
                    output = op.Apply(batch);
                }
                finally
                {
                    batch.Dispose();
                }
                if (output == null) continue;
                Interlocked.Add(ref queuedRows, output.Length);
                if (!channel.Writer.TryWrite(output)) output.Dispose();
            }
        }, CancellationToken.None)).ToArray();
        var consumers = Enumerable.Range(0, p).Select(_ => Task.Run(async () =>
        {
            var writer = sink.CreateWriter();
            try
            {
                while (await channel.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
                {
                    while (channel.Reader.TryRead(out var batch))
                    {
                        try
                        {
                            await writer.WriteAsync(batch, ct).ConfigureAwait(false);
                            Interlocked.Add(ref queuedRows, -batch.Length);
                        }
                        finally
                        {
                            batch.Dispose();
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
        }, CancellationToken.None)).ToArray();

        var reason = "time";
        var nextLog = 2.0;
        while (true)
        {
            Thread.Sleep(20);
            var now = rss.Read();
            if (now > setup.PeerRssLimitBytes)
            {
                reason = $"rss_over_{setup.PeerRssLimitBytes >> 20}_mb";
                break;
            }
            if (timeline.Elapsed >= setup.PeerMaxDuration.TotalSeconds) break;
            if (producers.Any(t => t.IsFaulted) || consumers.Any(t => t.IsFaulted)) break;
            if (timeline.Elapsed >= nextLog)
            {
                log($"slow-sink: unbounded_channel t={timeline.Elapsed:F0}s RSS {now / 1048576.0:F0} MB, queued {Interlocked.Read(ref queuedRows):N0} rows");
                nextLog += 2;
            }
        }
        var end = timeline.SampleNow();
        var peak = sampler.WindowMax;
        cts.Cancel();
        channel.Writer.TryComplete();
        Task.WaitAll([.. producers, .. consumers], TimeSpan.FromSeconds(30));
        foreach (var t in producers.Concat(consumers))
            if (t.IsFaulted) throw new InvalidOperationException("unbounded_channel peer failed", t.Exception);
        // What was still queued when the run was cut off: the backlog a naive pipeline piles up.
        var queued = Interlocked.Read(ref queuedRows);
        long queuedBatches = 0;
        while (channel.Reader.TryRead(out var left))
        {
            queuedBatches++;
            left.Dispose();
        }
        return new SlowSinkRun
        {
            Name = "unbounded_channel",
            Samples = timeline.Samples,
            EndSeconds = end.Seconds,
            Threads = p,
            PeakRssBytes = peak,
            StopReason = reason,
            QueuedRowsAtStop = queued,
            QueuedBatchesAtStop = queuedBatches,
        };
    }

    /// <summary>Totals of <c>aietl.operator.rows_in/rows_out</c> for the operator and the sink, from the engine's meter.</summary>
    private sealed class OperatorRows : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly string _op;
        private readonly string _sink;
        private long _in;
        private long _out;
        private long _sinkIn;

        public OperatorRows(string op, string sink)
        {
            _op = op;
            _sink = sink;
            _listener.InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == EngineMetrics.MeterName && i.Name is "aietl.operator.rows_in" or "aietl.operator.rows_out") l.EnableMeasurementEvents(i);
            };
            _listener.SetMeasurementEventCallback<long>(OnMeasurement);
            _listener.Start();
        }

        public long In => Interlocked.Read(ref _in);
        public long Out => Interlocked.Read(ref _out);
        public long SinkIn => Interlocked.Read(ref _sinkIn);

        private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        {
            string? op = null;
            foreach (var t in tags) if (t.Key == "operator") op = t.Value as string;
            var isIn = instrument.Name == "aietl.operator.rows_in";
            if (op == _op) Interlocked.Add(ref isIn ? ref _in : ref _out, value);
            else if (op == _sink && isIn) Interlocked.Add(ref _sinkIn, value);
        }

        public void Dispose() => _listener.Dispose();
    }

    private sealed class NoDeadLetters : IDeadLetterOutput
    {
        public long Count => 0;
        public void Write(DeadLetter letter) => throw new InvalidOperationException($"unexpected dead letter: {letter.Error}");
        public ValueTask FlushAsync(CancellationToken ct) => default;
        public ValueTask DisposeAsync() => default;
    }
}
