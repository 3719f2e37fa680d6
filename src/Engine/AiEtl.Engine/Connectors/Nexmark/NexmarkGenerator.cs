using System.Text;
using AiEtl.Engine.Columns;

namespace AiEtl.Engine.Connectors.Nexmark;

/// <summary>
/// The Nexmark event functions, following the nexmark project's reference generator (GeneratorConfig,
/// NexmarkGenerator, Person/Auction/Bid/Price/Strings generators): event number <c>n</c> is a person when
/// <c>n % 50 &lt; 1</c>, an auction when <c>&lt; 4</c>, else a bid; ids are derived from <c>n</c>; hot
/// auctions, sellers and bidders, prices <c>round(10^(6u) · 100)</c>, random strings and the <c>extra</c>
/// padding to the average event sizes all come from a <see cref="JavaRandom"/> seeded with <c>n</c> (xor the
/// configured seed, 0 = the reference's sequence). Event time is <c>base_time + ⌊n · 10⁶ / rate⌋ µs / 1000</c>
/// in whole milliseconds, as the reference. The one departure: the reference draws the 10 000 channel URLs
/// from an unseeded random; here they come from the seed, so every run and every reader sees the same ones.
/// Rows are appended straight into column buffers: no per-event objects.
/// </summary>
internal sealed class NexmarkGenerator
{
    public const int PersonProportion = 1;
    public const int AuctionProportion = 3;
    public const int BidProportion = 46;
    public const int TotalProportion = PersonProportion + AuctionProportion + BidProportion;
    public const long FirstPersonId = 1000;
    public const long FirstAuctionId = 1000;
    public const long FirstCategoryId = 10;
    private const int PersonIdLead = 10;
    private const int AuctionIdLead = 10;
    private const int NumCategories = 5;
    private const int HotSellerRatio = 100;
    private const int HotAuctionRatio = 100;
    private const int HotBidderRatio = 100;
    private const int HotChannelsRatio = 2;
    private const int ChannelsNumber = 10_000;
    private const int MinStringLength = 3;

    private static readonly byte[][] FirstNames = Utf8("Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter");
    private static readonly byte[][] LastNames = Utf8("Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris");
    private static readonly byte[][] UsStates = Utf8("AZ", "CA", "ID", "OR", "WA", "WY");
    private static readonly byte[][] UsCities = Utf8("Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne");
    private static readonly byte[][] HotChannels = Utf8("Google", "Facebook", "Baidu", "Apple");

    private readonly NexmarkOptions _o;
    private readonly long _baseMs;
    private readonly double _interEventDelayUs;
    private readonly byte[][] _hotUrls = new byte[HotChannels.Length][];
    private readonly byte[][] _channelNames = new byte[ChannelsNumber][];
    private readonly byte[][] _channelUrls = new byte[ChannelsNumber][];

    public NexmarkGenerator(NexmarkOptions o)
    {
        _o = o;
        _baseMs = o.BaseTime.ToUnixTimeMilliseconds();
        _interEventDelayUs = 1_000_000.0 / o.EventRate;
        var r = new JavaRandom(o.Seed ^ 0x4E45584D41524BL);
        for (var i = 0; i < _hotUrls.Length; i++) _hotUrls[i] = BaseUrl(ref r);
        for (var c = 0; c < ChannelsNumber; c++)
        {
            _channelNames[c] = Encoding.ASCII.GetBytes("channel-" + c.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var url = BaseUrl(ref r);
            if (r.NextInt(10) > 0)
                url = [.. url, .. Encoding.ASCII.GetBytes("&channel_id=" + Math.Abs((long)ReverseBits(c)).ToString(System.Globalization.CultureInfo.InvariantCulture))];
            _channelUrls[c] = url;
        }
    }

    private static int ReverseBits(int v)
    {
        var u = (uint)v;
        uint r = 0;
        for (var i = 0; i < 32; i++) { r = (r << 1) | (u & 1); u >>= 1; }
        return (int)r;
    }

    private static byte[][] Utf8(params string[] s) => [.. s.Select(Encoding.ASCII.GetBytes)];

    private static byte[] BaseUrl(ref JavaRandom r)
    {
        Span<byte> tmp = stackalloc byte[16];
        var sb = new List<byte>(64);
        sb.AddRange("https://www.nexmark.com/"u8.ToArray());
        for (var part = 0; part < 3; part++)
        {
            var n = NextString(ref r, 5, (byte)'_', tmp);
            sb.AddRange(tmp[..n].ToArray());
            sb.Add((byte)'/');
        }
        sb.AddRange("item.htm?query=1"u8.ToArray());
        return [.. sb];
    }

    /// <summary>The stream event number <paramref name="n"/> belongs to.</summary>
    public static NexmarkStream KindOf(long n)
    {
        var rem = n % TotalProportion;
        return rem < PersonProportion ? NexmarkStream.Person : rem < PersonProportion + AuctionProportion ? NexmarkStream.Auction : NexmarkStream.Bid;
    }

    /// <summary>Event time of event <paramref name="n"/> in epoch milliseconds.</summary>
    public long TimestampMs(long n) => _baseMs + (long)(n * _interEventDelayUs) / 1000;

    private static long LastBase0PersonId(long eventId)
    {
        var epoch = eventId / TotalProportion;
        var offset = eventId % TotalProportion;
        if (offset >= PersonProportion) offset = PersonProportion - 1;
        return epoch * PersonProportion + offset;
    }

    private long NextBase0PersonId(long eventId, ref JavaRandom r)
    {
        var numPeople = LastBase0PersonId(eventId) + 1;
        var activePeople = Math.Min(numPeople, _o.NumActivePeople);
        var n = NextLong(ref r, activePeople + PersonIdLead);
        return numPeople - activePeople + n;
    }

    private static long LastBase0AuctionId(long eventId)
    {
        var epoch = eventId / TotalProportion;
        var offset = eventId % TotalProportion;
        if (offset < PersonProportion)
        {
            epoch--;
            offset = AuctionProportion - 1;
        }
        else if (offset >= PersonProportion + AuctionProportion) offset = AuctionProportion - 1;
        else offset -= PersonProportion;
        return epoch * AuctionProportion + offset;
    }

    private long NextBase0AuctionId(long eventId, ref JavaRandom r)
    {
        var maxAuction = LastBase0AuctionId(eventId);
        var minAuction = Math.Max(maxAuction - _o.NumInFlightAuctions, 0);
        return minAuction + NextLong(ref r, maxAuction - minAuction + 1 + AuctionIdLead);
    }

    private static long NextLong(ref JavaRandom r, long n) => n < int.MaxValue ? r.NextInt((int)n) : Math.Abs(r.NextLong() % n);

    private static long NextPrice(ref JavaRandom r) => (long)Math.Round(Math.Pow(10.0, r.NextDouble() * 6.0) * 100.0, MidpointRounding.AwayFromZero);

    /// <summary>Random lower-case letters, one in 13 replaced by <paramref name="special"/>; length in [3, maxLength).</summary>
    private static int NextString(ref JavaRandom r, int maxLength, byte special, Span<byte> dst)
    {
        var len = MinStringLength + r.NextInt(maxLength - MinStringLength);
        for (var i = 0; i < len; i++)
            dst[i] = r.NextInt(13) == 0 ? special : (byte)('a' + r.NextInt(26));
        return len;
    }

    private static void AppendString(ColumnBuilder col, ref JavaRandom r, int maxLength, byte special = (byte)' ')
    {
        var dst = col.ReserveUtf8(maxLength);
        col.CommitUtf8(NextString(ref r, maxLength, special, dst));
    }

    /// <summary>Pads an event to about <paramref name="desiredAverageSize"/> bytes (±20 %) with random letters.</summary>
    private static void AppendExtra(ColumnBuilder col, ref JavaRandom r, int currentSize, int desiredAverageSize)
    {
        if (currentSize > desiredAverageSize)
        {
            col.CommitUtf8(0);
            return;
        }
        desiredAverageSize -= currentSize;
        var delta = (int)Math.Round(desiredAverageSize * 0.2, MidpointRounding.AwayFromZero);
        var minSize = desiredAverageSize - delta;
        var size = minSize + (delta == 0 ? 0 : r.NextInt(2 * delta));
        r.FillLetters(col.ReserveUtf8(size)[..size]);
        col.CommitUtf8(size);
    }

    /// <summary>Appends the rows of <paramref name="stream"/> among event numbers [first, first + count).</summary>
    public void Fill(BatchBuilder b, NexmarkStream stream, long first, int count)
    {
        switch (stream)
        {
            case NexmarkStream.Person: FillPeople(b, first, count); break;
            case NexmarkStream.Auction: FillAuctions(b, first, count); break;
            default: FillBids(b, first, count); break;
        }
    }

    private void FillBids(BatchBuilder b, long first, int count)
    {
        var auction = b[0];
        var bidder = b[1];
        var price = b[2];
        var channel = b[3];
        var url = b[4];
        var dateTime = b[5];
        var extra = b[6];
        var seed = _o.Seed;
        var end = first + count;
        for (var n = first; n < end; n++)
        {
            if (n % TotalProportion < PersonProportion + AuctionProportion) continue;
            var r = new JavaRandom(n ^ seed);
            long a = r.NextInt(_o.HotAuctionRatio) > 0
                ? LastBase0AuctionId(n) / HotAuctionRatio * HotAuctionRatio
                : NextBase0AuctionId(n, ref r);
            auction.AppendInt64(a + FirstAuctionId);
            long p = r.NextInt(_o.HotBiddersRatio) > 0
                ? LastBase0PersonId(n) / HotBidderRatio * HotBidderRatio + 1
                : NextBase0PersonId(n, ref r);
            bidder.AppendInt64(p + FirstPersonId);
            price.AppendInt64(NextPrice(ref r));
            if (r.NextInt(HotChannelsRatio) > 0)
            {
                var i = r.NextInt(HotChannels.Length);
                channel.AppendUtf8(HotChannels[i]);
                url.AppendUtf8(_hotUrls[i]);
            }
            else
            {
                var c = r.NextInt(ChannelsNumber);
                channel.AppendUtf8(_channelNames[c]);
                url.AppendUtf8(_channelUrls[c]);
            }
            dateTime.AppendInt64(TimestampMs(n) * 1000);
            AppendExtra(extra, ref r, 32, _o.AvgBidByteSize);
        }
    }

    private void FillPeople(BatchBuilder b, long first, int count)
    {
        var id = b[0];
        var name = b[1];
        var email = b[2];
        var card = b[3];
        var city = b[4];
        var state = b[5];
        var dateTime = b[6];
        var extra = b[7];
        var end = first + count;
        for (var n = first; n < end; n++)
        {
            if (n % TotalProportion >= PersonProportion) continue;
            var r = new JavaRandom(n ^ _o.Seed);
            id.AppendInt64(LastBase0PersonId(n) + FirstPersonId);
            var fn = FirstNames[r.NextInt(FirstNames.Length)];
            var ln = LastNames[r.NextInt(LastNames.Length)];
            var dst = name.ReserveUtf8(fn.Length + 1 + ln.Length);
            fn.CopyTo(dst);
            dst[fn.Length] = (byte)' ';
            ln.CopyTo(dst[(fn.Length + 1)..]);
            name.CommitUtf8(fn.Length + 1 + ln.Length);

            dst = email.ReserveUtf8(7 + 1 + 5 + 4);
            var k = NextString(ref r, 7, (byte)' ', dst);
            dst[k++] = (byte)'@';
            k += NextString(ref r, 5, (byte)' ', dst[k..]);
            ".com"u8.CopyTo(dst[k..]);
            k += 4;
            email.CommitUtf8(k);

            dst = card.ReserveUtf8(19);
            for (var g = 0; g < 4; g++)
            {
                var v = r.NextInt(10000);
                var o = g * 5;
                if (g > 0) dst[o - 1] = (byte)' ';
                for (var d = 3; d >= 0; d--)
                {
                    dst[o + d] = (byte)('0' + v % 10);
                    v /= 10;
                }
            }
            card.CommitUtf8(19);

            var ci = UsCities[r.NextInt(UsCities.Length)];
            city.AppendUtf8(ci);
            var st = UsStates[r.NextInt(UsStates.Length)];
            state.AppendUtf8(st);
            dateTime.AppendInt64(TimestampMs(n) * 1000);
            var size = 8 + fn.Length + 1 + ln.Length + k + 19 + ci.Length + st.Length;
            AppendExtra(extra, ref r, size, _o.AvgPersonByteSize);
        }
    }

    private void FillAuctions(BatchBuilder b, long first, int count)
    {
        var id = b[0];
        var itemName = b[1];
        var description = b[2];
        var initialBid = b[3];
        var reserve = b[4];
        var dateTime = b[5];
        var expires = b[6];
        var seller = b[7];
        var category = b[8];
        var extra = b[9];
        var end = first + count;
        for (var n = first; n < end; n++)
        {
            var rem = n % TotalProportion;
            if (rem < PersonProportion || rem >= PersonProportion + AuctionProportion) continue;
            var r = new JavaRandom(n ^ _o.Seed);
            var ts = TimestampMs(n);
            id.AppendInt64(LastBase0AuctionId(n) + FirstAuctionId);
            long s = r.NextInt(_o.HotSellersRatio) > 0
                ? LastBase0PersonId(n) / HotSellerRatio * HotSellerRatio
                : NextBase0PersonId(n, ref r);
            var cat = FirstCategoryId + r.NextInt(NumCategories);
            var initial = NextPrice(ref r);
            // Auction length: up to twice the time until numInFlightAuctions more auctions have been created.
            var numEventsForAuctions = (long)_o.NumInFlightAuctions * TotalProportion / AuctionProportion;
            var horizonMs = TimestampMs(n + numEventsForAuctions) - ts;
            var lengthMs = 1 + NextLong(ref r, Math.Max(horizonMs * 2, 1));
            var dst = itemName.ReserveUtf8(20);
            var nameLen = NextString(ref r, 20, (byte)' ', dst);
            itemName.CommitUtf8(nameLen);
            dst = description.ReserveUtf8(100);
            var descLen = NextString(ref r, 100, (byte)' ', dst);
            description.CommitUtf8(descLen);
            var res = initial + NextPrice(ref r);
            initialBid.AppendInt64(initial);
            reserve.AppendInt64(res);
            dateTime.AppendInt64(ts * 1000);
            expires.AppendInt64((ts + lengthMs) * 1000);
            seller.AppendInt64(s + FirstPersonId);
            category.AppendInt64(cat);
            AppendExtra(extra, ref r, 8 + nameLen + descLen + 8 + 8 + 8 + 8 + 8, _o.AvgAuctionByteSize);
        }
    }
}
