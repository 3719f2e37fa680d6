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

    private int Next(int bits)
    {
        _seed = unchecked(_seed * Multiplier + 0xBL) & Mask;
        return (int)((ulong)_seed >> (48 - bits));
    }

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

    public long NextLong() => unchecked(((long)Next(32) << 32) + Next(32));

    public double NextDouble() => (((long)Next(26) << 27) + Next(27)) * (1.0 / (1L << 53));
}
