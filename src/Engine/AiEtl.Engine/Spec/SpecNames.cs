namespace AiEtl.Engine.Spec;

/// <summary>The YAML spelling of each enum value of the spec model, one table per enum.</summary>
public static class SpecNames
{
    public static readonly IReadOnlyList<KeyValuePair<string, DeliveryGuarantee>> Delivery =
    [
        new("at-least-once", DeliveryGuarantee.AtLeastOnce),
        new("exactly-once", DeliveryGuarantee.ExactlyOnce),
    ];

    public static readonly IReadOnlyList<KeyValuePair<string, FileFormat>> FileFormats =
    [
        new("jsonl", FileFormat.Jsonl),
        new("csv", FileFormat.Csv),
        new("parquet", FileFormat.Parquet),
    ];

    public static readonly IReadOnlyList<KeyValuePair<string, GeneratorKind>> Generators =
    [
        new("orders", GeneratorKind.Orders),
        new("clickstream", GeneratorKind.Clickstream),
    ];

    public static readonly IReadOnlyList<KeyValuePair<string, NexmarkStreamName>> NexmarkStreams =
    [
        new("person", NexmarkStreamName.Person),
        new("auction", NexmarkStreamName.Auction),
        new("bid", NexmarkStreamName.Bid),
    ];

    public static readonly IReadOnlyList<KeyValuePair<string, ConsoleFormat>> ConsoleFormats =
    [
        new("table", ConsoleFormat.Table),
        new("jsonl", ConsoleFormat.Jsonl),
    ];

    public static readonly IReadOnlyList<KeyValuePair<string, TimeFormat>> TimeFormats =
    [
        new("iso", TimeFormat.Iso),
        new("epoch_s", TimeFormat.EpochS),
        new("epoch_ms", TimeFormat.EpochMs),
        new("epoch_us", TimeFormat.EpochUs),
    ];

    public static readonly IReadOnlyList<KeyValuePair<string, ClickHouseEngineSpec>> ClickHouseEngines =
    [
        new("merge_tree", ClickHouseEngineSpec.MergeTree),
        new("replacing_merge_tree", ClickHouseEngineSpec.ReplacingMergeTree),
    ];

    public static readonly IReadOnlyList<KeyValuePair<string, ClickHouseCompressionSpec>> ClickHouseCompressions =
    [
        new("none", ClickHouseCompressionSpec.None),
        new("gzip", ClickHouseCompressionSpec.Gzip),
        new("lz4", ClickHouseCompressionSpec.Lz4),
    ];

    public static readonly IReadOnlyList<KeyValuePair<string, ClickHouseTimestampSpec>> ClickHouseTimestamps =
    [
        new("microseconds", ClickHouseTimestampSpec.Microseconds),
        new("seconds", ClickHouseTimestampSpec.Seconds),
    ];

    public static readonly IReadOnlyList<KeyValuePair<string, SchemaChangeMode>> SchemaChangeModes =
    [
        new("fail", SchemaChangeMode.Fail),
        new("evolve", SchemaChangeMode.Evolve),
    ];

    public static readonly IReadOnlyList<KeyValuePair<string, SnapshotMode>> SnapshotModes =
    [
        new("initial", SnapshotMode.Initial),
        new("never", SnapshotMode.Never),
    ];

    /// <summary>File extensions that imply a format when <c>format:</c> is not given.</summary>
    public static readonly IReadOnlyList<KeyValuePair<string, FileFormat>> FileExtensions =
    [
        new(".jsonl", FileFormat.Jsonl),
        new(".ndjson", FileFormat.Jsonl),
        new(".json", FileFormat.Jsonl),
        new(".csv", FileFormat.Csv),
        new(".parquet", FileFormat.Parquet),
    ];

    public static string Of(DeliveryGuarantee value) => NameIn(Delivery, value);
    public static string Of(FileFormat value) => NameIn(FileFormats, value);
    public static string Of(GeneratorKind value) => NameIn(Generators, value);
    public static string Of(NexmarkStreamName value) => NameIn(NexmarkStreams, value);
    public static string Of(ConsoleFormat value) => NameIn(ConsoleFormats, value);
    public static string Of(TimeFormat value) => NameIn(TimeFormats, value);
    public static string Of(SchemaChangeMode value) => NameIn(SchemaChangeModes, value);
    public static string Of(SnapshotMode value) => NameIn(SnapshotModes, value);

    /// <summary>The format a path's extension implies (<c>data/*.jsonl</c> → jsonl), or null.</summary>
    public static FileFormat? FormatFromPath(string path)
    {
        foreach (var (ext, format) in FileExtensions)
        {
            if (path.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) return format;
        }
        return null;
    }

    internal static string NameIn<T>(IReadOnlyList<KeyValuePair<string, T>> table, T value) where T : struct, Enum
    {
        foreach (var (name, v) in table)
        {
            if (EqualityComparer<T>.Default.Equals(v, value)) return name;
        }
        throw new ArgumentOutOfRangeException(nameof(value), value, null);
    }
}
