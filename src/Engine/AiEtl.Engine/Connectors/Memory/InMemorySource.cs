using System.Buffers.Binary;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Connectors.Memory;

/// <summary>
/// A bounded source over batches held in memory (benchmarks and tests). Reader i of P takes batches
/// i, i+P, …; each handed-out batch is retained, so the list stays usable for later runs.
/// </summary>
public sealed class InMemorySource(string name, Schema schema, IReadOnlyList<Batch> batches, int maxParallelism = int.MaxValue) : ISource
{
    public string Name => name;
    public Schema Schema => schema;
    public int MaxParallelism => Math.Max(1, Math.Min(maxParallelism, batches.Count));
    public bool IsBounded => true;

    public ISourceReader CreateReader(ConnectorContext context) => new Reader(batches, context.Task.Index, context.Task.Parallelism);

    private sealed class Reader(IReadOnlyList<Batch> batches, int index, int parallelism) : ISourceReader
    {
        private int _next = index;

        public void RestorePosition(ReadOnlySpan<byte> position) => _next = BinaryPrimitives.ReadInt32LittleEndian(position);

        public ValueTask<Batch?> ReadNextBatchAsync(CancellationToken ct)
        {
            if (_next >= batches.Count) return ValueTask.FromResult<Batch?>(null);
            var b = batches[_next].Retain();
            _next += parallelism;
            return ValueTask.FromResult<Batch?>(b);
        }

        public byte[] SnapshotPosition()
        {
            var b = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, _next);
            return b;
        }

        public ValueTask DisposeAsync() => default;
    }
}
