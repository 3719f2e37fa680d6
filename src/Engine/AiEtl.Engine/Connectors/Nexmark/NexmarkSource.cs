using System.Buffers.Binary;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Connectors.Nexmark;

/// <summary>Options of <see cref="NexmarkSource"/> (defaults are the reference generator's).</summary>
public sealed record NexmarkOptions
{
    public string Name { get; init; } = "bid";

    /// <summary>Which of the three streams this source exposes as its table.</summary>
    public NexmarkStream Stream { get; init; } = NexmarkStream.Bid;

    /// <summary>Events in total over all three streams (event numbers 0 … events − 1); 0 = unbounded.</summary>
    public long Events { get; init; }

    /// <summary>Events per second of event time (the reference's first event rate); sets the event-time spacing.</summary>
    public double EventRate { get; init; } = 10_000;

    /// <summary>Event time of event 0 (whole milliseconds are used).</summary>
    public DateTimeOffset BaseTime { get; init; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Xor-ed into every event's random seed; 0 gives the reference's values.</summary>
    public long Seed { get; init; }

    /// <summary>Event numbers per chunk (one batch per chunk holds this stream's share of them).</summary>
    public int ChunkEvents { get; init; } = 16_384;

    public int HotAuctionRatio { get; init; } = 2;
    public int HotSellersRatio { get; init; } = 4;
    public int HotBiddersRatio { get; init; } = 4;
    public int NumActivePeople { get; init; } = 1000;
    public int NumInFlightAuctions { get; init; } = 100;
    public int AvgPersonByteSize { get; init; } = 200;
    public int AvgAuctionByteSize { get; init; } = 500;
    public int AvgBidByteSize { get; init; } = 100;
}

/// <summary>
/// The Nexmark benchmark's event generator as a source of one stream (<c>person</c>, <c>auction</c> or
/// <c>bid</c>): declare one source per stream with the same options and each sees its share of the same event
/// sequence. Every event is a pure function of (options, event number), so the output does not depend on
/// parallelism: event numbers are cut into chunks of <see cref="NexmarkOptions.ChunkEvents"/>, chunk
/// <c>k</c> goes to reader <c>k % P</c>, and each chunk becomes one batch. Event time rises with the event
/// number (no disorder), so a zero out-of-orderness watermark is exact. A reader's checkpoint position is its
/// next chunk index.
/// </summary>
public sealed class NexmarkSource : ISource
{
    public const int MaxReaders = 1024;

    public NexmarkSource(NexmarkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        if (!Enum.IsDefined(options.Stream)) problems.Add($"unknown stream {options.Stream}");
        if (options.Events < 0) problems.Add($"events must not be negative (got {options.Events})");
        if (!(options.EventRate > 0) || double.IsInfinity(options.EventRate)) problems.Add($"event_rate must be a positive number (got {options.EventRate})");
        if (options.ChunkEvents < NexmarkGenerator.TotalProportion) problems.Add($"chunk_events must be at least {NexmarkGenerator.TotalProportion} (got {options.ChunkEvents})");
        if (options.HotAuctionRatio < 1 || options.HotSellersRatio < 1 || options.HotBiddersRatio < 1) problems.Add("hot ratios must be at least 1");
        if (options.NumActivePeople < 1 || options.NumInFlightAuctions < 1) problems.Add("active people and in-flight auctions must be at least 1");
        if (options.AvgPersonByteSize < 0 || options.AvgAuctionByteSize < 0 || options.AvgBidByteSize < 0) problems.Add("average sizes must not be negative");
        if (string.IsNullOrWhiteSpace(options.Name)) problems.Add("name must not be empty");
        ConnectorConfigException.ThrowIfAny($"nexmark '{options.Name}'", problems);
        Options = options;
        Schema = NexmarkSchemas.For(options.Stream);
    }

    private NexmarkGenerator? _generator;

    public NexmarkOptions Options { get; }
    public string Name => Options.Name;
    public Schema Schema { get; }
    public bool IsBounded => Options.Events > 0;

    public int MaxParallelism => IsBounded
        ? (int)Math.Clamp((Options.Events + Options.ChunkEvents - 1) / Options.ChunkEvents, 1, MaxReaders)
        : MaxReaders;

    public ISourceReader CreateReader(ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new NexmarkReader(this, context.Task.Index, Math.Max(1, context.Task.Parallelism));
    }

    /// <summary>Generates event numbers [first, first + count) of the source's stream into a new batch (for tests and peers; not thread-safe).</summary>
    public Batch Generate(long first, int count)
    {
        using var b = new BatchBuilder(Schema, count);
        _generator ??= new NexmarkGenerator(Options);
        _generator.Fill(b, Options.Stream, first, count);
        return b.Build();
    }
}

internal sealed class NexmarkReader : ISourceReader
{
    private const byte PositionVersion = 1;

    private readonly NexmarkOptions _o;
    private readonly int _index;
    private readonly int _parallelism;
    private readonly BatchBuilder _builder;
    private readonly NexmarkGenerator _gen;
    private long _chunk;

    public NexmarkReader(NexmarkSource source, int index, int parallelism)
    {
        _o = source.Options;
        _index = index;
        _parallelism = parallelism;
        _chunk = index;
        _builder = new BatchBuilder(source.Schema, _o.ChunkEvents);
        _gen = new NexmarkGenerator(_o);
    }

    public void RestorePosition(ReadOnlySpan<byte> position)
    {
        if (position.Length != 9 || position[0] != PositionVersion)
            throw new InvalidDataException("nexmark: unrecognised checkpoint position");
        var chunk = BinaryPrimitives.ReadInt64LittleEndian(position[1..]);
        if (chunk < 0 || chunk % _parallelism != _index)
            throw new InvalidDataException($"nexmark: position (chunk {chunk}) does not belong to reader {_index} of {_parallelism}");
        _chunk = chunk;
    }

    public byte[] SnapshotPosition()
    {
        var p = new byte[9];
        p[0] = PositionVersion;
        BinaryPrimitives.WriteInt64LittleEndian(p.AsSpan(1), _chunk);
        return p;
    }

    public ValueTask<Batch?> ReadNextBatchAsync(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var first = _chunk * _o.ChunkEvents;
        var end = first + _o.ChunkEvents;
        if (_o.Events > 0)
        {
            if (first >= _o.Events) return ValueTask.FromResult<Batch?>(null);
            end = Math.Min(end, _o.Events);
        }
        _gen.Fill(_builder, _o.Stream, first, (int)(end - first));
        _chunk += _parallelism;
        return ValueTask.FromResult<Batch?>(_builder.Build());
    }

    public ValueTask DisposeAsync()
    {
        _builder.Dispose();
        return default;
    }
}
