using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Bench.Scenarios;

/// <summary>The values of one order message (the generator's <c>orders</c> columns).</summary>
public readonly record struct OrderValues(
    long OrderId, long CustomerId, long ProductId, int Qty, long AmountCents, int Status, int Country, long TsMicros);

/// <summary>
/// The messages of <c>kafka-clickhouse</c>: JSON orders (8 fields, ≈220 bytes), every value a hash of the
/// message number, so the engine, the peers and a second generation agree exactly. Written in the common
/// <c>{"key": value, "key": value}</c> layout (a space after colons and commas, as Python's <c>json.dumps</c>).
/// </summary>
public static class KafkaClickHouseData
{
    /// <summary>The columns: name, kind, required (all but <c>country</c>).</summary>
    public static readonly (string Name, ColumnKind Kind, bool Required)[] Columns =
    [
        ("order_id", ColumnKind.Int64, true),
        ("customer_id", ColumnKind.Int64, true),
        ("product_id", ColumnKind.Int64, true),
        ("qty", ColumnKind.Int32, true),
        ("amount", ColumnKind.Float64, true),
        ("status", ColumnKind.String, true),
        ("country", ColumnKind.String, false),
        ("ts", ColumnKind.Timestamp, true),
    ];

    public static Schema Schema { get; } = BuildSchema();

    public static readonly string[] Statuses = ["pending", "payment_authorized", "shipped", "partially_shipped", "delivered", "cancelled_by_customer", "refund_requested", "returned"];
    public static readonly string[] Countries = ["United States", "Germany", "France", "United Kingdom", "Japan", "Brazil", "India", "Canada", "Netherlands", "South Korea", "Australia", "Mexico", "Spain", "Italy", "Sweden"];
    private static readonly byte[][] StatusBytes = Statuses.Select(Encoding.UTF8.GetBytes).ToArray();
    private static readonly byte[][] CountryBytes = Countries.Select(Encoding.UTF8.GetBytes).ToArray();

    public const long FirstOrderId = 1_000_000_000_000_000;
    /// <summary>2026-11-01T00:00:00Z in µs; messages are 100 µs apart with up to 1 s of jitter.</summary>
    public const long TsStartMicros = 1_793_491_200_000_000;

    /// <summary>Largest encoded message (the buffers are sized by it).</summary>
    public const int MaxMessageBytes = 320;

    private static Schema BuildSchema()
    {
        var b = new Schema.Builder();
        foreach (var (name, kind, required) in Columns) b.Field(ColumnTypes.Field(name, kind, nullable: !required));
        return b.Build();
    }

    /// <summary>The pipeline spec's <c>schema:</c> block for these columns (indented by <paramref name="indent"/>).</summary>
    public static string SchemaYaml(string indent) => string.Join("\n", Columns.Select(c =>
        $"{indent}{c.Name}: {{ type: {ColumnTypes.Name(c.Kind)}{(c.Required ? ", required: true" : "")} }}"));

    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    public static OrderValues Row(long i)
    {
        var h = Mix((ulong)i);
        var h2 = Mix(h);
        var cents = (h & 15) == 0 ? 20_000 + (long)(h2 % 480_000) : 100 + (long)(h2 % 19_900);
        return new OrderValues(
            OrderId: FirstOrderId + i,
            CustomerId: 100_000_000_000 + (long)((h >> 8) % 900_000_000_000),
            ProductId: 1_000_000_000 + (long)((h >> 20) % 9_000_000_000),
            Qty: 1 + (int)((h >> 40) % 20),
            AmountCents: cents,
            Status: (int)((h >> 48) % (ulong)Statuses.Length),
            Country: (h >> 56) % 16 == 0 ? -1 : (int)((h2 >> 32) % (ulong)Countries.Length),
            TsMicros: TsStartMicros + i * 100 + (long)((h2 >> 8) % 1_000_000));
    }

    /// <summary>Writes the compact JSON of one order into <paramref name="dest"/>; returns its length.</summary>
    public static int WriteJson(in OrderValues v, Span<byte> dest)
    {
        var w = new SpanWriter(dest);
        w.Raw("{\"order_id\": "u8); w.Int(v.OrderId);
        w.Raw(", \"customer_id\": "u8); w.Int(v.CustomerId);
        w.Raw(", \"product_id\": "u8); w.Int(v.ProductId);
        w.Raw(", \"qty\": "u8); w.Int(v.Qty);
        w.Raw(", \"amount\": "u8); w.Int(v.AmountCents / 100); w.Byte((byte)'.'); w.Byte((byte)('0' + v.AmountCents % 100 / 10)); w.Byte((byte)('0' + v.AmountCents % 10));
        w.Raw(", \"status\": \""u8); w.Raw(StatusBytes[v.Status]); w.Byte((byte)'"');
        if (v.Country < 0) w.Raw(", \"country\": null"u8);
        else { w.Raw(", \"country\": \""u8); w.Raw(CountryBytes[v.Country]); w.Byte((byte)'"'); }
        w.Raw(", \"ts\": \""u8);
        var dt = DateTime.UnixEpoch.AddTicks(v.TsMicros * 10);
        w.Advance(dt.TryFormat(w.Rest, out var n, "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture) ? n : throw new InvalidOperationException("timestamp does not fit"));
        w.Raw("\"}"u8);
        return w.Length;
    }

    /// <summary>All messages in one array (offsets[i]..offsets[i+1]) for the decoder contestants.</summary>
    public static (byte[] Bytes, int[] Offsets) Messages(long rows)
    {
        var offsets = new int[rows + 1];
        var bytes = new byte[checked((int)Math.Min(System.Array.MaxLength, rows * 240 + MaxMessageBytes))];
        var at = 0;
        for (long i = 0; i < rows; i++)
        {
            if (bytes.Length - at < MaxMessageBytes) System.Array.Resize(ref bytes, (int)Math.Min(System.Array.MaxLength, bytes.Length + bytes.Length / 4L));
            at += WriteJson(Row(i), bytes.AsSpan(at));
            offsets[i + 1] = at;
        }
        return (bytes, offsets);
    }

    /// <summary>Checksums every contestant must reproduce.</summary>
    public static OrdersChecksum Expected(long rows)
    {
        long qty = 0, cents = 0, nullCountries = 0;
        for (long i = 0; i < rows; i++)
        {
            var v = Row(i);
            qty += v.Qty;
            cents += v.AmountCents;
            if (v.Country < 0) nullCountries++;
        }
        return new OrdersChecksum(rows, qty, cents, nullCountries);
    }

    private ref struct SpanWriter(Span<byte> dest)
    {
        private readonly Span<byte> _dest = dest;
        public int Length;
        public Span<byte> Rest => _dest[Length..];
        public void Advance(int n) => Length += n;
        public void Byte(byte b) => _dest[Length++] = b;

        public void Raw(ReadOnlySpan<byte> s)
        {
            s.CopyTo(_dest[Length..]);
            Length += s.Length;
        }

        public void Int(long v)
        {
            if (!v.TryFormat(_dest[Length..], out var n, default, CultureInfo.InvariantCulture)) throw new InvalidOperationException("number does not fit");
            Length += n;
        }
    }
}

/// <summary>Rows, Σqty, Σamount in cents and the count of null countries: what every contestant must agree on.</summary>
public readonly record struct OrdersChecksum(long Rows, long Qty, long AmountCents, long NullCountries)
{
    public override string ToString() =>
        $"rows {Rows:N0}, Σqty {Qty:N0}, Σamount {AmountCents / 100}.{AmountCents % 100:00}, null countries {NullCountries:N0}";
}

/// <summary>The <c>json_poco</c> peer's object (System.Text.Json, source-generated metadata).</summary>
public sealed class OrderPoco
{
    [JsonPropertyName("order_id")] public long OrderId { get; set; }
    [JsonPropertyName("customer_id")] public long CustomerId { get; set; }
    [JsonPropertyName("product_id")] public long ProductId { get; set; }
    [JsonPropertyName("qty")] public int Qty { get; set; }
    [JsonPropertyName("amount")] public double Amount { get; set; }
    [JsonPropertyName("status")] public string Status { get; set; } = "";
    [JsonPropertyName("country")] public string? Country { get; set; }
    [JsonPropertyName("ts")] public DateTime Ts { get; set; }
}

[JsonSerializable(typeof(OrderPoco))]
internal sealed partial class OrderPocoJsonContext : JsonSerializerContext;

/// <summary>ClickHouse Native blocks of the orders rows, encoded ahead of time for the <c>clickhouse_insert</c> peer.</summary>
public static class OrdersNativeEncoder
{
    /// <summary>One block of rows [start, start + count) with the column types of the target table.</summary>
    public static byte[] Block(long start, int count, IReadOnlyList<(string Name, string Type)> columns)
    {
        using var ms = new MemoryStream(count * 96 + 1024);
        using var w = new BinaryWriter(ms);
        VarUInt(w, (ulong)columns.Count);
        VarUInt(w, (ulong)count);
        foreach (var (name, type) in columns)
        {
            Str(w, name);
            Str(w, type);
            switch (name, type)
            {
                case ("order_id", "Int64"): for (var i = 0; i < count; i++) w.Write(KafkaClickHouseData.Row(start + i).OrderId); break;
                case ("customer_id", "Int64"): for (var i = 0; i < count; i++) w.Write(KafkaClickHouseData.Row(start + i).CustomerId); break;
                case ("product_id", "Int64"): for (var i = 0; i < count; i++) w.Write(KafkaClickHouseData.Row(start + i).ProductId); break;
                case ("qty", "Int32"): for (var i = 0; i < count; i++) w.Write(KafkaClickHouseData.Row(start + i).Qty); break;
                case ("amount", "Float64"):
                    for (var i = 0; i < count; i++) w.Write(double.Parse(Amount(KafkaClickHouseData.Row(start + i).AmountCents), CultureInfo.InvariantCulture));
                    break;
                case ("status", "String"): for (var i = 0; i < count; i++) Str(w, KafkaClickHouseData.Statuses[KafkaClickHouseData.Row(start + i).Status]); break;
                case ("country", "Nullable(String)"):
                    for (var i = 0; i < count; i++) w.Write((byte)(KafkaClickHouseData.Row(start + i).Country < 0 ? 1 : 0));
                    for (var i = 0; i < count; i++)
                    {
                        var c = KafkaClickHouseData.Row(start + i).Country;
                        Str(w, c < 0 ? "" : KafkaClickHouseData.Countries[c]);
                    }
                    break;
                case ("ts", "Int64" or "DateTime64(6, 'UTC')"): for (var i = 0; i < count; i++) w.Write(KafkaClickHouseData.Row(start + i).TsMicros); break;
                default: throw new InvalidOperationException($"clickhouse_insert peer: no encoder for column {name} {type}");
            }
        }
        w.Flush();
        return ms.ToArray();
    }

    private static string Amount(long cents) => $"{cents / 100}.{cents % 100:00}";

    private static void VarUInt(BinaryWriter w, ulong v)
    {
        while (v >= 0x80)
        {
            w.Write((byte)(v | 0x80));
            v >>= 7;
        }
        w.Write((byte)v);
    }

    private static void Str(BinaryWriter w, string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        VarUInt(w, (ulong)b.Length);
        w.Write(b);
    }
}
