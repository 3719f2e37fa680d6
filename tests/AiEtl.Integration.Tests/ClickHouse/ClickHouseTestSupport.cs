using System.Globalization;
using AiEtl.Engine;
using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.Columns;
using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.TestSupport;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace AiEtl.Integration.Tests.ClickHouse;

/// <summary>Helpers for the ClickHouse sink tests: writers, contexts and Arrow batches built by hand.</summary>
internal static class ChTest
{
    private static int s_tables;

    /// <summary>A table name unique in this test run.</summary>
    public static string Table(string prefix) => $"{prefix}_{Interlocked.Increment(ref s_tables)}_{Environment.ProcessId}";

    public static ClickHouseSinkOptions Options(ClickHouseServer server, string table, DeliveryGuarantee delivery = DeliveryGuarantee.AtLeastOnce) => new()
    {
        Name = "ch",
        Url = server.HttpUrl,
        Table = table,
        Delivery = delivery,
        MaxRetryTime = TimeSpan.FromSeconds(60),
        RequestTimeout = TimeSpan.FromSeconds(30),
        InitialBackoff = TimeSpan.FromMilliseconds(50),
        MaxBackoff = TimeSpan.FromMilliseconds(500),
    };

    public static ConnectorContext Context(InMemoryDeadLetterOutput? deadLetters = null, int index = 0, int parallelism = 1, string pipeline = "test") => new()
    {
        Task = new TaskInfo { Pipeline = pipeline, Vertex = "sink", Index = index, Parallelism = parallelism },
        DeadLetters = deadLetters ?? new InMemoryDeadLetterOutput(),
        Metrics = new EngineMetrics(pipeline),
    };

    public static ClickHouseSinkWriter Writer(ClickHouseSinkOptions options, Schema schema, ConnectorContext? context = null) =>
        (ClickHouseSinkWriter)new ClickHouseSink(options).CreateWriter(schema, context ?? Context());

    public static async Task<long> Long(ClickHouseServer s, string sql) =>
        long.Parse((await s.QueryAsync(sql, TestContext.Current.CancellationToken)).Trim(), CultureInfo.InvariantCulture);

    public static async Task<string[][]> Rows(ClickHouseServer s, string sql) =>
        (await s.QueryAsync(sql + " FORMAT TabSeparated", TestContext.Current.CancellationToken))
        .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToArray();

    /// <summary>A batch of (id int64, payload string) rows [from, from + count).</summary>
    public static Batch KeyBatch(long from, int count)
    {
        var ids = new Int64Array.Builder();
        var payload = new StringArray.Builder();
        for (var i = 0; i < count; i++)
        {
            ids.Append(from + i);
            payload.Append("row-" + (from + i).ToString(CultureInfo.InvariantCulture));
        }
        return new Batch(new RecordBatch(KeySchema, [ids.Build(), payload.Build()], count));
    }

    public static readonly Schema KeySchema = new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("payload", ColumnKind.String, nullable: false))
        .Build();

    public static TimestampArray Timestamps(IEnumerable<long?> micros)
    {
        var (values, validity, nulls, n) = Fixed(micros.ToList());
        return new TimestampArray(ColumnTypes.TimestampUtc, values, validity, n, nulls, 0);
    }

    private static (ArrowBuffer Values, ArrowBuffer Validity, int Nulls, int Length) Fixed<T>(List<T?> list) where T : unmanaged
    {
        var bytes = new byte[list.Count * System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        var span = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes.AsSpan());
        var validity = new ArrowBuffer.BitmapBuilder();
        var nulls = 0;
        for (var i = 0; i < list.Count; i++)
        {
            span[i] = list[i] ?? default;
            validity.Append(list[i] != null);
            if (list[i] == null) nulls++;
        }
        return (new ArrowBuffer(bytes), validity.Build(), nulls, list.Count);
    }

    public static Date32Array Dates(IEnumerable<int?> days)
    {
        var (values, validity, nulls, n) = Fixed(days.ToList());
        return new Date32Array(values, validity, n, nulls, 0);
    }

    public static ListArray Lists(IEnumerable<long?[]?> rows)
    {
        var b = new ListArray.Builder(new Int64Type());
        var values = (Int64Array.Builder)b.ValueBuilder;
        foreach (var r in rows)
        {
            if (r == null)
            {
                b.AppendNull();
                continue;
            }
            b.Append();
            foreach (var v in r)
            {
                if (v is { } x) values.Append(x); else values.AppendNull();
            }
        }
        return b.Build();
    }
}
