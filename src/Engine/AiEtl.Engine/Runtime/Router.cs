using System.Runtime.CompilerServices;
using AiEtl.Engine.Kernels;
using Apache.Arrow;

namespace AiEtl.Engine.Runtime;

/// <summary>One outgoing edge of a task instance: the gates of the receiving instances and our channel in each.</summary>
internal sealed class OutputEdge
{
    public required JobEdge Edge { get; init; }
    public required InputGate[] Targets { get; init; }
    public required int[] Channels { get; init; }
    public int RoundRobin;
}

/// <summary>
/// The end of a task's operator chain: partitions batches over the outgoing edges and broadcasts signals.
/// </summary>
internal sealed class Router(OutputEdge[] edges, int senderIndex, EngineMetrics metrics) : IOutput
{
    private int[][]? _hashSel;
    private int[]? _hashCounts;
    private ulong[]? _hashes;

    public bool HasOutputs => edges.Length > 0;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask EmitAsync(Batch batch, CancellationToken ct)
    {
        if (batch.Length == 0 || edges.Length == 0)
        {
            batch.Dispose();
            return;
        }
        for (var e = 0; e < edges.Length; e++)
        {
            var b = e == edges.Length - 1 ? batch : batch.Retain();
            await SendAsync(edges[e], b, ct).ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendAsync(OutputEdge o, Batch batch, CancellationToken ct)
    {
        switch (o.Edge.Partitioning)
        {
            case Partitioning.Forward:
                await o.Targets[0].SendAsync(StreamElement.Data(o.Channels[0], batch), metrics, ct).ConfigureAwait(false);
                break;
            case Partitioning.Rebalance:
            {
                var t = o.RoundRobin++ % o.Targets.Length;
                await o.Targets[t].SendAsync(StreamElement.Data(o.Channels[t], batch), metrics, ct).ConfigureAwait(false);
                break;
            }
            case Partitioning.Broadcast:
                for (var t = 0; t < o.Targets.Length; t++)
                {
                    var b = t == o.Targets.Length - 1 ? batch : batch.Retain();
                    await o.Targets[t].SendAsync(StreamElement.Data(o.Channels[t], b), metrics, ct).ConfigureAwait(false);
                }
                break;
            case Partitioning.Hash:
                await SendHashedAsync(o, batch, ct).ConfigureAwait(false);
                break;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendHashedAsync(OutputEdge o, Batch batch, CancellationToken ct)
    {
        var p = o.Targets.Length;
        if (p == 1)
        {
            await o.Targets[0].SendAsync(StreamElement.Data(o.Channels[0], batch), metrics, ct).ConfigureAwait(false);
            return;
        }
        var n = batch.Length;
        if (_hashes == null || _hashes.Length < n) _hashes = new ulong[Math.Max(n, 1024)];
        if (_hashSel == null || _hashSel.Length != p) { _hashSel = new int[p][]; _hashCounts = new int[p]; }
        for (var t = 0; t < p; t++)
            if (_hashSel[t] == null || _hashSel[t].Length < n) _hashSel[t] = new int[Math.Max(n, 1024)];
        var hashes = _hashes.AsSpan(0, n);
        KeyHash.Compute(batch.Data, o.Edge.KeyColumns, hashes);
        var counts = _hashCounts!;
        System.Array.Clear(counts);
        for (var i = 0; i < n; i++)
        {
            var t = KeyHash.Partition(hashes[i], p);
            _hashSel[t][counts[t]++] = i;
        }
        try
        {
            for (var t = 0; t < p; t++)
            {
                if (counts[t] == 0) continue;
                var part = counts[t] == n ? batch.Retain() : Gather.Take(batch, _hashSel[t].AsSpan(0, counts[t]));
                await o.Targets[t].SendAsync(StreamElement.Data(o.Channels[t], part), metrics, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            batch.Dispose();
        }
    }

    /// <summary>Sends a signal (watermark, barrier, end) on every outgoing channel.</summary>
    public async ValueTask SignalAsync(StreamElement signal, CancellationToken ct)
    {
        foreach (var o in edges)
            for (var t = 0; t < o.Targets.Length; t++)
                await o.Targets[t].SendAsync(signal.WithChannel(o.Channels[t]), metrics, ct).ConfigureAwait(false);
    }

    public int SenderIndex => senderIndex;
}

/// <summary>Hashing of key columns for hash partitioning (stable across runs and processes).</summary>
public static class KeyHash
{
    private const ulong Prime = 0x9E3779B97F4A7C15UL;
    /// <summary>The hash before the first key column is mixed in.</summary>
    public const ulong Seed = 0x243F6A8885A308D3UL;
    /// <summary>What a NULL integer, timestamp or string key mixes in.</summary>
    public const ulong NullValue = 0xFFFF_FFFF_FFFF_FFFFUL;

    public static void Compute(RecordBatch batch, IReadOnlyList<int> keys, Span<ulong> hashes)
    {
        hashes.Fill(Seed);
        foreach (var k in keys)
        {
            var col = batch.Column(k);
            var bits = col.Data.Buffers[0].Span;
            var off = col.Data.Offset;
            switch (col)
            {
                case Int64Array or DoubleArray or TimestampArray:
                {
                    var v = Gather.Values<long>(col);
                    for (var i = 0; i < hashes.Length; i++)
                        hashes[i] = Mix(hashes[i], Gather.IsValid(bits, off, i) ? (ulong)v[i] : 0xFFFF_FFFF_FFFF_FFFFUL);
                    break;
                }
                case Int32Array or Date32Array:
                {
                    var v = Gather.Values<int>(col);
                    for (var i = 0; i < hashes.Length; i++)
                        hashes[i] = Mix(hashes[i], Gather.IsValid(bits, off, i) ? (ulong)(long)v[i] : 0xFFFF_FFFF_FFFF_FFFFUL);
                    break;
                }
                case StringArray s:
                    for (var i = 0; i < hashes.Length; i++)
                        hashes[i] = Mix(hashes[i], s.IsNull(i) ? 0xFFFF_FFFF_FFFF_FFFFUL : System.IO.Hashing.XxHash3.HashToUInt64(s.GetBytes(i)));
                    break;
                case BooleanArray b:
                    for (var i = 0; i < hashes.Length; i++)
                        hashes[i] = Mix(hashes[i], b.GetValue(i) switch { true => 1UL, false => 2UL, null => 3UL });
                    break;
                default:
                    throw new NotSupportedException($"cannot hash column type {col.Data.DataType.Name}");
            }
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong h, ulong v)
    {
        var x = (h ^ v) * Prime;
        x ^= x >> 29;
        x *= 0xBF58476D1CE4E5B9UL;
        return x ^ (x >> 32);
    }

    public static int Partition(ulong hash, int partitions) => (int)((hash >> 1) % (ulong)partitions);
}
