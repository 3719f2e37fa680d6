using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace AiEtl.Engine.ClickHouse;

/// <summary>
/// Loads rows into a ClickHouse table over HTTP as Native blocks encoded straight from Arrow columns.
/// <para>At-least-once: rows are inserted in batches (by rows, bytes and time) and at every checkpoint; a replay
/// after a crash inserts the rows since the last checkpoint again.</para>
/// <para>Exactly-once: each row carries the writer's identity and the checkpoint interval it belongs to
/// (<c>_aietl_writer</c>, <c>_aietl_checkpoint</c>); a writer that restarts from checkpoint N first deletes its rows
/// tagged after N, so the replay does not duplicate them. See the project README for the guarantee and its limits.</para>
/// </summary>
public sealed class ClickHouseSink : ISink
{
    public ClickHouseSink(ClickHouseSinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0) throw new ConnectorConfigException("clickhouse sink", problems);
        Options = options;
    }

    public ClickHouseSinkOptions Options { get; }
    public string Name => Options.Name;
    public int MaxParallelism => Options.MaxParallelism;

    public IReadOnlyList<string> Validate(Schema input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var p = new List<string>();
        foreach (var f in input.FieldsList)
        {
            if (!ColumnWriters.IsSupportedInput(f.DataType))
                p.Add($"column '{f.Name}': the clickhouse sink cannot write Arrow type {f.DataType.Name}");
            if (f.Name is ClickHouseSinkOptions.WriterColumn or ClickHouseSinkOptions.CheckpointColumn)
                p.Add($"column '{f.Name}' is reserved for the sink's exactly-once bookkeeping");
        }
        foreach (var k in Options.OrderBy)
        {
            var i = input.GetFieldIndex(k);
            if (i < 0) p.Add($"order_by column '{k}' is not in the input ({string.Join(", ", input.FieldsList.Select(f => f.Name))})");
            else if (input.FieldsList[i].DataType is ListType) p.Add($"order_by column '{k}' is a list; ClickHouse sort keys cannot be arrays here");
        }
        if (Options.VersionColumn is { } v)
        {
            var i = input.GetFieldIndex(v);
            if (i < 0) p.Add($"version_column '{v}' is not in the input");
            else if (!ColumnTypes.TryFromArrow(input.FieldsList[i].DataType, out var k) || k is not (ColumnKind.Int32 or ColumnKind.Int64 or ColumnKind.Date or ColumnKind.Timestamp))
                p.Add($"version_column '{v}' must be an int32, int64, date or timestamp column");
            else if (input.FieldsList[i].IsNullable && !Options.OrderBy.Contains(v))
                p.Add($"version_column '{v}' is nullable; ReplacingMergeTree needs a non-Nullable version (cast it or make it required)");
        }
        return p;
    }

    public ISinkWriter CreateWriter(Schema input, ConnectorContext context)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(context);
        return new ClickHouseSinkWriter(Options, input, context);
    }

    /// <summary>The writer identity stored in <c>_aietl_writer</c>: pipeline, sink and instance.</summary>
    public static string WriterId(string pipeline, string sink, int instance) =>
        $"{pipeline}/{sink}#{instance.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>Registers the ClickHouse connectors (the <c>clickhouse</c> sink kind) in a registry.</summary>
public static class ClickHouseConnectors
{
    public static ConnectorRegistry Register(ConnectorRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        return registry
            .AddSink<ClickHouseSinkSpec>((c, s, p) => new ClickHouseSink(FromSpec(c, s.Name, p.EffectiveDelivery)))
            .AddSink<ClickHouseCdcSinkSpec>((c, s, _) => new ClickHouseChangeSink(FromSpec(c, s.Name)));
    }

    /// <summary>Change sink options from a validated spec: unset values take the defaults of <see cref="ClickHouseChangeSinkOptions"/>.</summary>
    public static ClickHouseChangeSinkOptions FromSpec(ClickHouseCdcSinkSpec c, string name)
    {
        ArgumentNullException.ThrowIfNull(c);
        var d = new ClickHouseChangeSinkOptions { Url = c.Url };
        return d with
        {
            Name = name,
            Database = c.Database ?? d.Database,
            User = c.User ?? d.User,
            Password = c.Password ?? d.Password,
            TablePrefix = c.TablePrefix ?? d.TablePrefix,
            Tables = c.Tables ?? d.Tables,
            CreateTables = c.CreateTables ?? d.CreateTables,
            BatchRows = c.BatchRows ?? d.BatchRows,
            BatchBytes = c.BatchBytes ?? d.BatchBytes,
            FlushInterval = c.FlushInterval ?? d.FlushInterval,
            MaxRetryTime = c.MaxRetryTime ?? d.MaxRetryTime,
            RequestTimeout = c.RequestTimeout ?? d.RequestTimeout,
        };
    }

    /// <summary>Options from a validated spec: unset values take the defaults of <see cref="ClickHouseSinkOptions"/>.</summary>
    public static ClickHouseSinkOptions FromSpec(ClickHouseSinkSpec c, string name, DeliveryGuarantee delivery)
    {
        ArgumentNullException.ThrowIfNull(c);
        var d = new ClickHouseSinkOptions { Url = c.Url, Table = c.Table };
        return d with
        {
            Name = name,
            Database = c.Database ?? d.Database,
            User = c.User ?? d.User,
            Password = c.Password ?? d.Password,
            CaFile = c.CaFile,
            Delivery = delivery,
            CreateTable = c.CreateTable ?? false,
            Engine = c.Engine == ClickHouseEngineSpec.ReplacingMergeTree ? ClickHouseTableEngine.ReplacingMergeTree : ClickHouseTableEngine.MergeTree,
            OrderBy = c.OrderBy ?? [],
            PartitionBy = c.PartitionBy,
            VersionColumn = c.VersionColumn,
            TimestampPrecision = c.TimestampPrecision == ClickHouseTimestampSpec.Seconds ? ClickHouseTimestampPrecision.Seconds : ClickHouseTimestampPrecision.Microseconds,
            BatchRows = c.BatchRows ?? d.BatchRows,
            BatchBytes = c.BatchBytes ?? d.BatchBytes,
            FlushInterval = c.FlushInterval ?? d.FlushInterval,
            Compression = c.Compression switch
            {
                ClickHouseCompressionSpec.Gzip => ClickHouseCompression.Gzip,
                ClickHouseCompressionSpec.Lz4 => ClickHouseCompression.Lz4,
                _ => ClickHouseCompression.None,
            },
            MaxRetryTime = c.MaxRetryTime ?? d.MaxRetryTime,
            RequestTimeout = c.RequestTimeout ?? d.RequestTimeout,
        };
    }
}
