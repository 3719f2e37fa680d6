using System.Threading;
using AiEtl.Engine.Runtime;

namespace AiEtl.Engine.Connectors.Sinks;

/// <summary>
/// Discards rows, counting them (benchmarks end pipelines here). It never disposes a batch: the caller owns it.
/// Not transactional: counts include rows replayed after a restore.
/// </summary>
public sealed class NullSink : ISink
{
    private long _rows;
    private long _batches;

    public NullSink(string name = "null") => Name = name;

    public string Name { get; }
    public int MaxParallelism => 1024;

    /// <summary>Rows written by every writer of this sink.</summary>
    public long Rows => Interlocked.Read(ref _rows);

    /// <summary>Batches written by every writer of this sink (empty batches included).</summary>
    public long Batches => Interlocked.Read(ref _batches);

    public ISinkWriter CreateWriter(Apache.Arrow.Schema input, ConnectorContext context) => new Writer(this);

    private sealed class Writer(NullSink sink) : ISinkWriter
    {
        public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => default;

        public ValueTask WriteAsync(Batch batch, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(batch);
            Interlocked.Add(ref sink._rows, batch.Length);
            Interlocked.Increment(ref sink._batches);
            return default;
        }

        public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) => new((byte[]?)null);

        public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;

        public ValueTask DisposeAsync() => default;
    }
}
