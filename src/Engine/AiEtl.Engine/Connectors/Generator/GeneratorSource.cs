using System.Buffers.Binary;
using System.Diagnostics;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Connectors.Generator;

/// <summary>The synthetic data sets the generator produces.</summary>
public enum GeneratorKind
{
    /// <summary><c>order_id int64, customer_id int64, product_id int64, qty int32, amount float64, status string, country string (nullable), ts timestamp</c>.</summary>
    Orders,
    /// <summary><c>event_id int64, user_id int64, session_id string, url string, referrer string (nullable),
    /// event_type string, duration_ms int32, ts timestamp</c>.</summary>
    Clickstream,
}

/// <summary>Options of <see cref="GeneratorSource"/>.</summary>
public sealed record GeneratorOptions
{
    public GeneratorKind Kind { get; init; } = GeneratorKind.Orders;

    /// <summary>Rows to generate in total; 0 = unbounded.</summary>
    public long Rows { get; init; }

    /// <summary>Rows per second over all readers (paced by the wall clock); 0 = as fast as possible.</summary>
    public double Rate { get; init; }

    public long Seed { get; init; } = 42;

    /// <summary>Rows per batch, and the size of the row-number chunks dealt out to readers.</summary>
    public int BatchSize { get; init; } = 8192;

    /// <summary>Event time of row 0.</summary>
    public DateTimeOffset StartTime { get; init; } = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Event-time spacing of consecutive rows (whole microseconds).</summary>
    public TimeSpan EventInterval { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// One row in eight has its event time moved earlier by a pseudo-random amount up to this bound, so rows
    /// arrive out of order by at most <c>MaxJitter</c> (use it as the watermark's out-of-orderness). Zero keeps
    /// event time strictly increasing.
    /// </summary>
    public TimeSpan MaxJitter { get; init; } = TimeSpan.FromSeconds(2);

    public string Name { get; init; } = "generator";
}

/// <summary>
/// Deterministic synthetic rows. Every value is a pure function of (seed, row number) through a SplitMix64
/// mixer, so the output does not depend on parallelism: row numbers are cut into chunks of
/// <see cref="GeneratorOptions.BatchSize"/>, and chunk <c>k</c> goes to reader <c>k % P</c>. Event time is
/// <c>StartTime + row × EventInterval</c>, minus the jitter described on <see cref="GeneratorOptions.MaxJitter"/>.
/// Batches are filled straight into column buffers (strings from precomputed UTF-8 tables or written byte by
/// byte). A reader's checkpoint position is its next chunk index and the row offset inside it (0 unless a rate
/// limit cut a chunk).
/// </summary>
public sealed class GeneratorSource : ISource
{
    /// <summary>Upper bound on readers of an unbounded generator.</summary>
    public const int MaxReaders = 1024;

    public GeneratorSource(GeneratorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        if (!Enum.IsDefined(options.Kind)) problems.Add($"unknown kind {options.Kind}");
        if (options.Rows < 0) problems.Add($"rows must not be negative (got {options.Rows})");
        if (options.Rate < 0 || double.IsNaN(options.Rate) || double.IsInfinity(options.Rate)) problems.Add($"rate must be a finite number ≥ 0 (got {options.Rate})");
        if (options.BatchSize < 1) problems.Add($"batch_size must be positive (got {options.BatchSize})");
        if (options.EventInterval < TimeSpan.Zero) problems.Add("event_interval must not be negative");
        if (options.MaxJitter < TimeSpan.Zero) problems.Add("max_jitter must not be negative");
        if (string.IsNullOrWhiteSpace(options.Name)) problems.Add("name must not be empty");
        ConnectorConfigException.ThrowIfAny($"generator '{options.Name}'", problems);
        Options = options;
        Schema = SchemaOf(options.Kind);
    }

    public GeneratorOptions Options { get; }
    public string Name => Options.Name;
    public Schema Schema { get; }
    public bool IsBounded => Options.Rows > 0;

    public int MaxParallelism => IsBounded
        ? (int)Math.Clamp((Options.Rows + Options.BatchSize - 1) / Options.BatchSize, 1, MaxReaders)
        : MaxReaders;

    public ISourceReader CreateReader(ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new GeneratorReader(this, context.Task.Index, Math.Max(1, context.Task.Parallelism));
    }

    public static Schema SchemaOf(GeneratorKind kind) => kind switch
    {
        GeneratorKind.Orders => new Schema.Builder()
            .Field(ColumnTypes.Field("order_id", ColumnKind.Int64, nullable: false))
            .Field(ColumnTypes.Field("customer_id", ColumnKind.Int64, nullable: false))
            .Field(ColumnTypes.Field("product_id", ColumnKind.Int64, nullable: false))
            .Field(ColumnTypes.Field("qty", ColumnKind.Int32, nullable: false))
            .Field(ColumnTypes.Field("amount", ColumnKind.Float64, nullable: false))
            .Field(ColumnTypes.Field("status", ColumnKind.String, nullable: false))
            .Field(ColumnTypes.Field("country", ColumnKind.String, nullable: true))
            .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp, nullable: false))
            .Build(),
        GeneratorKind.Clickstream => new Schema.Builder()
            .Field(ColumnTypes.Field("event_id", ColumnKind.Int64, nullable: false))
            .Field(ColumnTypes.Field("user_id", ColumnKind.Int64, nullable: false))
            .Field(ColumnTypes.Field("session_id", ColumnKind.String, nullable: false))
            .Field(ColumnTypes.Field("url", ColumnKind.String, nullable: false))
            .Field(ColumnTypes.Field("referrer", ColumnKind.String, nullable: true))
            .Field(ColumnTypes.Field("event_type", ColumnKind.String, nullable: false))
            .Field(ColumnTypes.Field("duration_ms", ColumnKind.Int32, nullable: false))
            .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp, nullable: false))
            .Build(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}

internal sealed class GeneratorReader : ISourceReader
{
    private const byte PositionVersion = 1;
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private readonly GeneratorOptions _o;
    private readonly int _index;
    private readonly int _parallelism;
    private readonly BatchBuilder _builder;
    private readonly RowGenerator _rows;
    private readonly double _rate;          // rows/s for this reader
    private readonly ReusableDelay _delay = new();
    private long _chunk;
    private int _offset;
    private long _paceStart = -1;
    private long _paced;

    public GeneratorReader(GeneratorSource source, int index, int parallelism)
    {
        _o = source.Options;
        _index = index;
        _parallelism = parallelism;
        _chunk = index;
        _builder = new BatchBuilder(source.Schema, _o.BatchSize);
        _rows = new RowGenerator(_o);
        _rate = _o.Rate / parallelism;
    }

    public void RestorePosition(ReadOnlySpan<byte> position)
    {
        if (position.Length != 13 || position[0] != PositionVersion)
            throw new InvalidDataException("generator: unrecognised checkpoint position");
        var chunk = BinaryPrimitives.ReadInt64LittleEndian(position[1..]);
        var offset = BinaryPrimitives.ReadInt32LittleEndian(position[9..]);
        if (chunk < 0 || chunk % _parallelism != _index || offset < 0 || offset >= _o.BatchSize)
            throw new InvalidDataException($"generator: position (chunk {chunk}, offset {offset}) does not belong to reader {_index} of {_parallelism} with batch size {_o.BatchSize}");
        _chunk = chunk;
        _offset = offset;
    }

    public byte[] SnapshotPosition()
    {
        var p = new byte[13];
        p[0] = PositionVersion;
        BinaryPrimitives.WriteInt64LittleEndian(p.AsSpan(1), _chunk);
        BinaryPrimitives.WriteInt32LittleEndian(p.AsSpan(9), _offset);
        return p;
    }

    public async ValueTask<Batch?> ReadNextBatchAsync(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var chunkStart = _chunk * _o.BatchSize;
        var chunkEnd = chunkStart + _o.BatchSize;
        if (_o.Rows > 0)
        {
            if (chunkStart >= _o.Rows) return null;
            chunkEnd = Math.Min(chunkEnd, _o.Rows);
        }
        var first = chunkStart + _offset;
        var n = (int)(chunkEnd - first);
        if (_rate > 0)
        {
            n = await PaceAsync(n, ct).ConfigureAwait(false);
            if (n == 0) return _builder.Build();
        }
        _rows.Fill(_builder, first, n);
        _offset += n;
        if (first + n == chunkEnd)
        {
            _chunk += _parallelism;
            _offset = 0;
        }
        return _builder.Build();
    }

    /// <summary>
    /// Token bucket on the wall clock: waits (never spins) until <paramref name="want"/> rows are due or the
    /// poll interval passed, and returns how many may go now (0 lets a checkpoint through). The bucket holds at
    /// most one second of rows plus a batch, so a stall (backpressure) is not followed by an unbounded burst.
    /// </summary>
    private async ValueTask<int> PaceAsync(int want, CancellationToken ct)
    {
        var now = Stopwatch.GetTimestamp();
        if (_paceStart < 0) _paceStart = now;
        var due = Due(now);
        var burst = (long)Math.Ceiling(_rate) + _o.BatchSize;
        if (due > burst)
        {
            _paced += due - burst;
            due = burst;
        }
        if (due < want)
        {
            var waitSeconds = (want - due) / _rate;
            var wait = TimeSpan.FromSeconds(Math.Min(waitSeconds, PollInterval.TotalSeconds));
            if (wait > TimeSpan.Zero) await _delay.DelayAsync(wait, ct).ConfigureAwait(false);
            due = Due(Stopwatch.GetTimestamp());
        }
        var n = (int)Math.Clamp(due, 0, want);
        _paced += n;
        return n;
    }

    private long Due(long now) => (long)(Stopwatch.GetElapsedTime(_paceStart, now).TotalSeconds * _rate) - _paced;

    public ValueTask DisposeAsync()
    {
        _builder.Dispose();
        _delay.Dispose();
        return default;
    }
}

/// <summary>The value functions: every column value is a pure function of (seed, row number).</summary>
internal sealed class RowGenerator
{
    private const ulong Golden = 0x9E3779B97F4A7C15;

    private static readonly byte[][] Statuses = ["paid"u8.ToArray(), "pending"u8.ToArray(), "cancelled"u8.ToArray(), "refunded"u8.ToArray()];
    private static readonly byte[][] EventTypes = ["page_view"u8.ToArray(), "click"u8.ToArray(), "scroll"u8.ToArray(), "add_to_cart"u8.ToArray(), "checkout"u8.ToArray(), "purchase"u8.ToArray()];
    private static readonly byte[][] Referrers = ["https://www.google.com/"u8.ToArray(), "https://www.bing.com/"u8.ToArray(), "https://duckduckgo.com/"u8.ToArray(),
        "https://t.co/"u8.ToArray(), "https://news.ycombinator.com/"u8.ToArray(), "https://mail.example.com/newsletter"u8.ToArray()];
    private static readonly byte[][] Paths = ["/"u8.ToArray(), "/search"u8.ToArray(), "/cart"u8.ToArray(), "/checkout"u8.ToArray(), "/account"u8.ToArray(),
        "/help"u8.ToArray(), "/category/books"u8.ToArray(), "/category/music"u8.ToArray(), "/category/garden"u8.ToArray(), "/product"u8.ToArray(),
        "/product"u8.ToArray(), "/product"u8.ToArray()];
    private const int FirstProductPath = 9;
    private static ReadOnlySpan<byte> UrlBase => "https://shop.example.com"u8;
    private static ReadOnlySpan<byte> Hex => "0123456789abcdef"u8;

    private readonly GeneratorKind _kind;
    private readonly ulong[] _salt = new ulong[8];
    private readonly long _startMicros;
    private readonly long _intervalMicros;
    private readonly ulong _jitterMicros;

    public RowGenerator(GeneratorOptions o)
    {
        _kind = o.Kind;
        for (var c = 0; c < _salt.Length; c++) _salt[c] = Mix((ulong)o.Seed ^ Mix((ulong)(c + 1) * 0xD1B54A32D192ED03));
        _startMicros = (o.StartTime.UtcTicks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;
        _intervalMicros = o.EventInterval.Ticks / TimeSpan.TicksPerMicrosecond;
        _jitterMicros = (ulong)(o.MaxJitter.Ticks / TimeSpan.TicksPerMicrosecond);
    }

    /// <summary>SplitMix64's finalizer.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    private ulong H(int column, long row) => Mix(_salt[column] + (ulong)row * Golden);

    /// <summary>An id in [1, n] skewed toward small ids (density falls like 1/√id).</summary>
    private static long Skewed(ulong h, long n)
    {
        var u = h >> 32;
        var sq = (u * u) >> 32;
        return 1 + (long)((sq * (ulong)n) >> 32);
    }

    public long EventTime(long row)
    {
        var t = _startMicros + row * _intervalMicros;
        if (_jitterMicros == 0) return t;
        var h = H(7, row);
        return (h & 7) == 0 ? t - (long)((h >> 3) % (_jitterMicros + 1)) : t;
    }

    public void Fill(BatchBuilder b, long first, int count)
    {
        if (_kind == GeneratorKind.Orders) FillOrders(b, first, count);
        else FillClicks(b, first, count);
    }

    private void FillOrders(BatchBuilder b, long first, int count)
    {
        var orderId = b[0];
        var customer = b[1];
        var product = b[2];
        var qty = b[3];
        var amount = b[4];
        var status = b[5];
        var country = b[6];
        var ts = b[7];
        for (var row = first; row < first + count; row++)
        {
            orderId.AppendInt64(row + 1);
            customer.AppendInt64(Skewed(H(1, row), 100_000));
            var hp = H(4, row);
            product.AppendInt64(Skewed(hp, 10_000));
            qty.AppendInt32(1 + (int)((hp >> 40) % 5 == 0 ? (hp >> 20) % 20 : (hp >> 20) % 3));
            var ha = H(2, row);
            // Mostly small orders, one in 16 large: cents in [100, 20_000) or [20_000, 500_000).
            var cents = (ha & 15) == 0 ? 20_000 + (long)((ha >> 4) % 480_000) : 100 + (long)((ha >> 4) % 19_900);
            amount.AppendDouble(cents / 100.0);
            var s = H(3, row) % 100;
            status.AppendUtf8(Statuses[s < 70 ? 0 : s < 85 ? 1 : s < 95 ? 2 : 3]);
            var hc = H(5, row);
            if (hc % 50 == 0) country.AppendNull();
            else country.AppendUtf8(Countries[(int)((hc >> 8) % (ulong)Countries.Length)]);
            ts.AppendInt64(EventTime(row));
        }
    }

    private static readonly byte[][] Countries = [.. new[] { "US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "NL", "PL", "SE", "ES" }.Select(System.Text.Encoding.UTF8.GetBytes)];

    private void FillClicks(BatchBuilder b, long first, int count)
    {
        var eventId = b[0];
        var user = b[1];
        var session = b[2];
        var url = b[3];
        var referrer = b[4];
        var eventType = b[5];
        var duration = b[6];
        var ts = b[7];
        for (var row = first; row < first + count; row++)
        {
            eventId.AppendInt64(row + 1);
            var userId = Skewed(H(1, row), 50_000);
            user.AppendInt64(userId);

            // A user's session lasts for a window of 2^16 row numbers.
            var sid = Mix(_salt[2] ^ Mix((ulong)userId * Golden + (ulong)(row >> 16)));
            var dst = session.ReserveUtf8(16);
            for (var i = 0; i < 16; i++) dst[i] = Hex[(int)(sid >> (60 - 4 * i)) & 15];
            session.CommitUtf8(16);

            var hu = H(3, row);
            var pathIndex = (int)(hu % (ulong)Paths.Length);
            var path = Paths[pathIndex];
            dst = url.ReserveUtf8(UrlBase.Length + path.Length + 8);
            UrlBase.CopyTo(dst);
            var n = UrlBase.Length;
            path.CopyTo(dst[n..]);
            n += path.Length;
            if (pathIndex >= FirstProductPath)
            {
                dst[n++] = (byte)'/';
                var id = (int)((hu >> 16) % 10_000);
                var digits = id < 10 ? 1 : id < 100 ? 2 : id < 1000 ? 3 : 4;
                for (var i = digits - 1; i >= 0; i--)
                {
                    dst[n + i] = (byte)('0' + id % 10);
                    id /= 10;
                }
                n += digits;
            }
            url.CommitUtf8(n);

            var hr = H(4, row);
            if (hr % 10 < 4) referrer.AppendNull();
            else referrer.AppendUtf8(Referrers[(int)((hr >> 8) % (ulong)Referrers.Length)]);

            var he = H(5, row) % 100;
            eventType.AppendUtf8(EventTypes[he < 55 ? 0 : he < 80 ? 1 : he < 90 ? 2 : he < 96 ? 3 : he < 99 ? 4 : 5]);
            duration.AppendInt32((int)(H(6, row) % 60_000));
            ts.AppendInt64(EventTime(row));
        }
    }
}
