using System.Collections.Concurrent;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>Dead letters kept in memory.</summary>
public sealed class ListDeadLetters : IDeadLetterOutput
{
    public ConcurrentQueue<DeadLetter> Letters { get; } = new();
    public long Count => Letters.Count;
    public void Write(DeadLetter letter) => Letters.Enqueue(letter);
    public ValueTask FlushAsync(CancellationToken ct) => default;
    public ValueTask DisposeAsync() => default;
}

/// <summary>
/// A two-phase sink whose "external system" is <see cref="Committed"/>: rows become visible only when the
/// checkpoint that pre-committed them completes. Optionally fails after a number of batches (crash injection)
/// or sleeps per batch (a slow sink).
/// </summary>
public sealed class TwoPhaseListSink(string name) : ISink
{
    public ConcurrentQueue<string> Committed { get; } = new();
    public int FailAfterBatches { get; set; } = -1;
    public TimeSpan DelayPerBatch { get; set; }
    public int Batches;
    public string Name => name;
    public int MaxParallelism => 4;
    public ISinkWriter CreateWriter(Schema input, ConnectorContext context) => new Writer(this, context.Task.Index);

    public static string RowText(RecordBatch b, int row) =>
        string.Join("|", Enumerable.Range(0, b.ColumnCount).Select(c => Values.Get(b.Column(c), row) switch
        {
            null => "null",
            double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            var v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture),
        }));

    /// <summary>Transactions the "external system" has committed, by (writer, checkpoint): commit is idempotent.</summary>
    private readonly HashSet<(int, long)> _committedTxns = [];

    private void CommitTxn(int writer, long checkpointId, List<string> rows)
    {
        lock (_committedTxns)
        {
            if (!_committedTxns.Add((writer, checkpointId))) return;
            foreach (var r in rows) Committed.Enqueue(r);
        }
    }

    private sealed class Writer(TwoPhaseListSink sink, int index) : ISinkWriter
    {
        private readonly List<string> _open = [];
        private readonly Dictionary<long, List<string>> _pending = [];

        public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct)
        {
            if (restoredState != null)
            {
                // The state is the pre-committed transaction of the restored checkpoint: finish it.
                var parts = System.Text.Encoding.UTF8.GetString(restoredState).Split('\n');
                var id = long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
                sink.CommitTxn(index, id, parts.Skip(1).ToList());
            }
            return default;
        }

        public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
        {
            if (sink.DelayPerBatch > TimeSpan.Zero) await Task.Delay(sink.DelayPerBatch, ct);
            if (Interlocked.Increment(ref sink.Batches) == sink.FailAfterBatches) throw new IOException("injected sink failure");
            for (var i = 0; i < batch.Length; i++) _open.Add(RowText(batch.Data, i));
        }

        public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct)
        {
            var rows = new List<string>(_open);
            _pending[checkpointId] = rows;
            _open.Clear();
            var state = string.Join('\n', rows.Prepend(checkpointId.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            return ValueTask.FromResult<byte[]?>(System.Text.Encoding.UTF8.GetBytes(state));
        }

        public ValueTask CommitAsync(long checkpointId, CancellationToken ct)
        {
            foreach (var id in _pending.Keys.Where(k => k <= checkpointId).Order().ToList())
            {
                sink.CommitTxn(index, id, _pending[id]);
                _pending.Remove(id);
            }
            return default;
        }

        public ValueTask DisposeAsync() => default;
    }
}

public static class TestData
{
    public static Schema OrdersSchema { get; } = new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64))
        .Field(ColumnTypes.Field("customer", ColumnKind.Int64))
        .Field(ColumnTypes.Field("status", ColumnKind.Int32))
        .Field(ColumnTypes.Field("amount", ColumnKind.Float64))
        .Field(ColumnTypes.Field("qty", ColumnKind.Int64))
        .Field(ColumnTypes.Field("name", ColumnKind.String))
        .Build();

    public static List<Batch> Orders(int rows, int batchSize, int seed = 1, bool nulls = true)
    {
        var rnd = new Random(seed);
        var list = new List<Batch>();
        using var b = new BatchBuilder(OrdersSchema, batchSize);
        for (var i = 0; i < rows; i++)
        {
            b[0].AppendInt64(i);
            b[1].AppendInt64(rnd.Next(0, 50));
            b[2].AppendInt32(rnd.Next(0, 10));
            if (nulls && i % 17 == 3) b[3].AppendNull(); else b[3].AppendDouble(Math.Round(rnd.NextDouble() * 100, 2));
            b[4].AppendInt64(rnd.Next(1, 20));
            if (nulls && i % 13 == 5) b[5].AppendNull(); else b[5].AppendString($"name-{i % 7}");
            if (b.Length == batchSize) list.Add(b.Build());
        }
        if (b.Length > 0) list.Add(b.Build());
        return list;
    }
}

/// <summary>
/// A sink that counts what it writes and sleeps per batch (a slow external system). Its pre-commit state is
/// the writer's row count (8 bytes), so checkpoint sizes are predictable.
/// </summary>
public sealed class SlowCountingSink(string name, TimeSpan delayPerBatch) : ISink
{
    private long _rows;
    private long _batches;

    public string Name => name;
    public int MaxParallelism => 16;
    public TimeSpan DelayPerBatch { get; } = delayPerBatch;
    public long Rows => Interlocked.Read(ref _rows);
    public long Batches => Interlocked.Read(ref _batches);

    public ISinkWriter CreateWriter(Schema input, ConnectorContext context) => new Writer(this);

    private sealed class Writer(SlowCountingSink sink) : ISinkWriter
    {
        private long _written;

        public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => default;

        public async ValueTask WriteAsync(Batch batch, CancellationToken ct)
        {
            if (sink.DelayPerBatch > TimeSpan.Zero) await Task.Delay(sink.DelayPerBatch, ct);
            _written += batch.Length;
            Interlocked.Add(ref sink._rows, batch.Length);
            Interlocked.Increment(ref sink._batches);
        }

        public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) =>
            ValueTask.FromResult<byte[]?>(BitConverter.GetBytes(_written));

        public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;

        public ValueTask DisposeAsync() => default;
    }
}

/// <summary>
/// Passes batches through unchanged and records, at every batch, how far the sources are ahead of the sinks
/// (<c>SourceRows - SinkRows</c>). Placed first in a source chain it samples right after the source counted a
/// new batch, the moment that difference peaks: a deterministic sample at every step, not a timed poll.
/// </summary>
public sealed class AheadProbe(Schema schema) : Operator
{
    private EngineMetrics? _metrics;
    private long _max;

    public long MaxAhead => Interlocked.Read(ref _max);
    public override string Name => "probe";
    public override Schema OutputSchema => schema;

    public override ValueTask OpenAsync(OperatorContext context, byte[]? restoredState, CancellationToken ct)
    {
        _metrics = context.Metrics;
        return default;
    }

    public override ValueTask ProcessAsync(Batch batch, IOutput output, CancellationToken ct)
    {
        Raise(ref _max, Interlocked.Read(ref _metrics!.SourceRows) - Interlocked.Read(ref _metrics.SinkRows));
        return output.EmitAsync(batch, ct);
    }

    public static void Raise(ref long max, long value)
    {
        var seen = Interlocked.Read(ref max);
        while (value > seen)
        {
            var was = Interlocked.CompareExchange(ref max, value, seen);
            if (was == seen) return;
            seen = was;
        }
    }
}
