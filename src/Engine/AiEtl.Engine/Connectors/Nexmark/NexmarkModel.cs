using System.Runtime.CompilerServices;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Connectors.Nexmark;

/// <summary>The three Nexmark event streams; a <see cref="NexmarkSource"/> exposes one of them as a table.</summary>
public enum NexmarkStream
{
    /// <summary>New people: <c>id, name, email_address, credit_card, city, state, date_time, extra</c>.</summary>
    Person,
    /// <summary>New auctions: <c>id, item_name, description, initial_bid, reserve, date_time, expires, seller, category, extra</c>.</summary>
    Auction,
    /// <summary>Bids: <c>auction, bidder, price, channel, url, date_time, extra</c>.</summary>
    Bid,
}

/// <summary>The Nexmark tables' schemas (the reference model's fields in snake_case; times are timestamps).</summary>
public static class NexmarkSchemas
{
    public static readonly Schema Person = new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("name", ColumnKind.String, nullable: false))
        .Field(ColumnTypes.Field("email_address", ColumnKind.String, nullable: false))
        .Field(ColumnTypes.Field("credit_card", ColumnKind.String, nullable: false))
        .Field(ColumnTypes.Field("city", ColumnKind.String, nullable: false))
        .Field(ColumnTypes.Field("state", ColumnKind.String, nullable: false))
        .Field(ColumnTypes.Field("date_time", ColumnKind.Timestamp, nullable: false))
        .Field(ColumnTypes.Field("extra", ColumnKind.String, nullable: false))
        .Build();

    public static readonly Schema Auction = new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("item_name", ColumnKind.String, nullable: false))
        .Field(ColumnTypes.Field("description", ColumnKind.String, nullable: false))
        .Field(ColumnTypes.Field("initial_bid", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("reserve", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("date_time", ColumnKind.Timestamp, nullable: false))
        .Field(ColumnTypes.Field("expires", ColumnKind.Timestamp, nullable: false))
        .Field(ColumnTypes.Field("seller", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("category", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("extra", ColumnKind.String, nullable: false))
        .Build();

    public static readonly Schema Bid = new Schema.Builder()
        .Field(ColumnTypes.Field("auction", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("bidder", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("price", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("channel", ColumnKind.String, nullable: false))
        .Field(ColumnTypes.Field("url", ColumnKind.String, nullable: false))
        .Field(ColumnTypes.Field("date_time", ColumnKind.Timestamp, nullable: false))
        .Field(ColumnTypes.Field("extra", ColumnKind.String, nullable: false))
        .Build();

    public static Schema For(NexmarkStream stream) => stream switch
    {
        NexmarkStream.Person => Person,
        NexmarkStream.Auction => Auction,
        NexmarkStream.Bid => Bid,
        _ => throw new ArgumentOutOfRangeException(nameof(stream)),
    };
}

/// <summary>
/// <c>java.util.Random</c>'s 48-bit linear congruential generator, bit for bit, as a value type: the reference
/// generator seeds one per event with the event number, so every event is a pure function of its number.
/// </summary>
internal struct JavaRandom
{
    private const long Multiplier = 0x5DEECE66DL;
    private const long Mask = (1L << 48) - 1;
    private long _seed;

    public JavaRandom(long seed) => _seed = (seed ^ Multiplier) & Mask;

    /// <summary>Sets the raw 48-bit state (tests reach rare states with it).</summary>
    public void SetState(long state) => _seed = state & Mask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Next(int bits)
    {
        _seed = unchecked(_seed * Multiplier + 0xBL) & Mask;
        return (int)((ulong)_seed >> (48 - bits));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int NextInt(int bound)
    {
        if ((bound & -bound) == bound) return (int)((bound * (long)Next(31)) >> 31);
        int bits, val;
        do
        {
            bits = Next(31);
            val = bits % bound;
        }
        while (unchecked(bits - val + (bound - 1)) < 0);
        return val;
    }

    // Jump-ahead constants: k steps of the LCG are seed·a^k + c·(a^(k−1) + … + 1), mod 2^48.
    private const long A2 = unchecked(Multiplier * Multiplier) & Mask;
    private const long C2 = unchecked(0xBL * Multiplier + 0xBL) & Mask;
    private const long A3 = unchecked(A2 * Multiplier) & Mask;
    private const long C3 = unchecked(C2 * Multiplier + 0xBL) & Mask;
    private const long A4 = unchecked(A3 * Multiplier) & Mask;
    private const long C4 = unchecked(C3 * Multiplier + 0xBL) & Mask;

    /// <summary>next(31) values at or above this are rejected by nextInt(26) (2^31 − 2^31 mod 26).</summary>
    private const int Limit26 = 2147483624;

    /// <summary>
    /// Exactly <c>dst.Length</c> calls of <c>'a' + nextInt(26)</c>, four states at a time through jump-ahead so the
    /// multiplications run in parallel; a (≈10⁻⁸ likely) rejected draw hands over to the one-at-a-time path.
    /// </summary>
    public void FillLetters(Span<byte> dst)
    {
        var i = 0;
        var s = _seed;
        while (i + 4 <= dst.Length)
        {
            var b1 = (int)((ulong)(unchecked(s * Multiplier + 0xBL) & Mask) >> 17);
            var b2 = (int)((ulong)(unchecked(s * A2 + C2) & Mask) >> 17);
            var b3 = (int)((ulong)(unchecked(s * A3 + C3) & Mask) >> 17);
            var s4 = unchecked(s * A4 + C4) & Mask;
            var b4 = (int)((ulong)s4 >> 17);
            if ((b1 | b2 | b3 | b4) >= Limit26 && (b1 >= Limit26 || b2 >= Limit26 || b3 >= Limit26 || b4 >= Limit26)) break;
            dst[i] = (byte)('a' + b1 % 26);
            dst[i + 1] = (byte)('a' + b2 % 26);
            dst[i + 2] = (byte)('a' + b3 % 26);
            dst[i + 3] = (byte)('a' + b4 % 26);
            s = s4;
            i += 4;
        }
        _seed = s;
        for (; i < dst.Length; i++) dst[i] = (byte)('a' + NextInt(26));
    }

    public long NextLong() => unchecked(((long)Next(32) << 32) + Next(32));

    public double NextDouble() => (((long)Next(26) << 27) + Next(27)) * (1.0 / (1L << 53));
}
