using System.Diagnostics;
using System.Globalization;
using System.Text;
using AiEtl.Engine;
using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.Columns;
using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Spec;
using Apache.Arrow;
using Apache.Arrow.Types;
using static AiEtl.Integration.Tests.ClickHouse.ChTest;

namespace AiEtl.Integration.Tests.ClickHouse;

/// <summary>The ClickHouse sink against the real server (Debian's 18.16 here): types, DDL, errors, retries.</summary>
[Collection("clickhouse")]
public sealed class ClickHouseSinkTests(ClickHouseFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Schema AllTypes = new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64, nullable: false))
        .Field(ColumnTypes.Field("b", ColumnKind.Bool))
        .Field(ColumnTypes.Field("i32", ColumnKind.Int32))
        .Field(ColumnTypes.Field("i64", ColumnKind.Int64))
        .Field(ColumnTypes.Field("f64", ColumnKind.Float64))
        .Field(ColumnTypes.Field("s", ColumnKind.String))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp))
        .Field(ColumnTypes.Field("d", ColumnKind.Date))
        .Build();

    private const string Unicode = "héllo wörld ✓ 日本語 🎉";
    private const string Awkward = "tab\tnew\nline\\ quote' \0 nul";

    private static Batch AllTypesBatch()
    {
        var id = new Int64Array.Builder().AppendRange([0, 1, 2, 3, 4, 5]).Build();
        var b = new BooleanArray.Builder().Append(true).AppendNull().Append(false).Append(true).Append(false).Append(true).Build();
        var i32 = new Int32Array.Builder().Append(int.MinValue).AppendNull().Append(int.MaxValue).Append(0).Append(-1).Append(42).Build();
        var i64 = new Int64Array.Builder().Append(long.MinValue).AppendNull().Append(long.MaxValue).Append(0).Append(-1).Append(9_007_199_254_740_993).Build();
        var f64 = new DoubleArray.Builder().Append(-double.MaxValue).AppendNull().Append(double.Epsilon).Append(double.NaN).Append(double.PositiveInfinity).Append(-0.0).Build();
        var s = new StringArray.Builder().Append("").AppendNull().Append(Unicode).Append(Awkward).Append(new string('x', 70_000)).Append("plain").Build();
        var ts = Timestamps([-1, null, 1_767_225_600_123_456, 0, 253_402_300_799_999_999, -62_135_596_800_000_000]);
        var d = Dates([0, null, 20_454, 65_535, 1, 365]);
        return new Batch(new RecordBatch(AllTypes, [id, b, i32, i64, f64, s, ts, d], 6));
    }

    [Fact]
    public async Task Every_engine_type_round_trips_through_a_created_table_with_nulls_unicode_and_extremes()
    {
        var table = Table("rt");
        var opts = Options(fx.Server, table) with { CreateTable = true, OrderBy = ["id"] };
        await using (var w = Writer(opts, AllTypes))
        {
            await w.OpenAsync(null, Ct);
            using var batch = AllTypesBatch();
            await w.WriteAsync(batch, Ct);
            Assert.Null(await w.PreCommitAsync(1, Ct));
            Assert.Equal(0, w.RowsRejected);
        }
        var micros = (await fx.Server.QueryAsync("SELECT version()", Ct)).StartsWith("18.", StringComparison.Ordinal) ? "ts" : "toUnixTimestamp64Micro(ts)";
        var rows = await Rows(fx.Server, $"SELECT id, b, i32, i64, f64, hex(s), {micros}, toUInt16(d), length(s) FROM {table} ORDER BY id");
        Assert.Equal(6, rows.Length);
        string Hex(string v) => Convert.ToHexString(Encoding.UTF8.GetBytes(v));
        Assert.Equal(["0", "1", "-2147483648", "-9223372036854775808", "-1.7976931348623157e308", "", "-1", "0", "0"], rows[0]);
        Assert.Equal(["1", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N"], rows[1]);
        Assert.Equal(["2", "0", "2147483647", "9223372036854775807", "5e-324", Hex(Unicode), "1767225600123456", "20454", Encoding.UTF8.GetByteCount(Unicode).ToString(CultureInfo.InvariantCulture)], rows[2]);
        Assert.Equal("nan", rows[3][4]);
        Assert.Equal(Hex(Awkward), rows[3][5]);
        Assert.Equal("65535", rows[3][7]);
        Assert.Equal("inf", rows[4][4]);
        Assert.Equal("70000", rows[4][8]);
        Assert.Equal("253402300799999999", rows[4][6]);
        Assert.Equal("-0", rows[5][4]);
        Assert.Equal("-62135596800000000", rows[5][6]);
        Assert.Equal("9007199254740993", rows[5][3]);
    }

    [Fact]
    public async Task Declared_target_types_are_introspected_and_encoded_lowcardinality_decimal_array_fixedstring_datetime()
    {
        var table = Table("typed");
        await CreateWithLowCardinality($"""
            CREATE TABLE {table} (
              id UInt64, lc LowCardinality(String), lcn LowCardinality(Nullable(String)), fs FixedString(4),
              dec Decimal(18, 4), deci Decimal(9, 2), dec128 Decimal(38, 10), arr Array(Nullable(Int64)),
              dt DateTime('UTC'), d Date, u8 UInt8, f32 Float32, i16 Int16, n Nullable(Int32), extra String DEFAULT 'dflt'
            ) ENGINE = MergeTree ORDER BY id
            """);
        var schema = new Schema.Builder()
            .Field(ColumnTypes.Field("id", ColumnKind.Int64, false))
            .Field(ColumnTypes.Field("lc", ColumnKind.String, false))
            .Field(ColumnTypes.Field("lcn", ColumnKind.String))
            .Field(ColumnTypes.Field("fs", ColumnKind.String, false))
            .Field(ColumnTypes.Field("dec", ColumnKind.Float64, false))
            .Field(ColumnTypes.Field("deci", ColumnKind.Int32, false))
            .Field(ColumnTypes.Field("dec128", ColumnKind.Int64, false))
            .Field(new Field("arr", new ListType(new Field("item", Int64Type.Default, true)), true))
            .Field(ColumnTypes.Field("dt", ColumnKind.Timestamp, false))
            .Field(ColumnTypes.Field("d", ColumnKind.Date, false))
            .Field(ColumnTypes.Field("u8", ColumnKind.Bool, false))
            .Field(ColumnTypes.Field("f32", ColumnKind.Float64, false))
            .Field(ColumnTypes.Field("i16", ColumnKind.Int32, false))
            .Field(ColumnTypes.Field("n", ColumnKind.Int32))
            .Build();
        // Rows 0-1 are good; rows 2-7 each break one column and go to the dead letters.
        const int N = 8;
        var cols = new IArrowArray[]
        {
            new Int64Array.Builder().AppendRange(Enumerable.Range(0, N).Select(i => (long)i)).Build(),
            new StringArray.Builder().AppendRange(["red", "green", "red", "red", "red", "red", "red", "red"]).Build(),
            new StringArray.Builder().Append("x").AppendNull().Append("x").Append("x").Append("x").Append("x").Append("x").Append("x").Build(),
            new StringArray.Builder().AppendRange(["ab", "abcd", "abcde", "a", "a", "a", "a", "a"]).Build(),
            new DoubleArray.Builder().AppendRange([1.23456, -9999999999.9999, 1, 1e15, 1, 1, 1, 1]).Build(),
            new Int32Array.Builder().AppendRange([1234567, -7, 1, 1, 10_000_000, 1, 1, 1]).Build(),
            new Int64Array.Builder().AppendRange([long.MaxValue, long.MinValue, 0, 0, 0, 0, 0, 0]).Build(),
            Lists([[1, null, 3], [], [1], [1], [1], null, [1], [1]]),
            Timestamps([1_767_225_600_999_999, 0, 0, 0, 0, 0, -1, 0]),
            Dates([20_454, 0, 0, 0, 0, 0, 0, 70_000]),
            new BooleanArray.Builder().AppendRange([true, false, true, true, true, true, true, true]).Build(),
            new DoubleArray.Builder().AppendRange([0.5, -1e10, 0, 0, 0, 0, 0, 0]).Build(),
            new Int32Array.Builder().AppendRange([-32768, 32767, 0, 0, 0, 0, 0, 0]).Build(),
            new Int32Array.Builder().Append(7).AppendNull().Append(1).Append(1).Append(1).Append(1).Append(1).Append(1).Build(),
        };
        var dl = new InMemoryDeadLetterOutput();
        await using (var w = Writer(Options(fx.Server, table), schema, Context(dl)))
        {
            await w.OpenAsync(null, Ct);
            using var batch = new Batch(new RecordBatch(schema, cols, N));
            await w.WriteAsync(batch, Ct);
            await w.PreCommitAsync(1, Ct);
            Assert.True(2 == w.RowsInserted, string.Join("\n", dl.Letters.Select(l => l.Error)));
        }
        var rows = await Rows(fx.Server, $"SELECT id, lc, lcn, fs, dec, deci, dec128, arr, toUnixTimestamp(dt), toUInt16(d), u8, f32, i16, n, extra FROM {table} ORDER BY id");
        Assert.Equal(2, rows.Length);
        Assert.Equal(["0", "red", "x", "ab\\0\\0", "1.2346", "1234567.00", "9223372036854775807.0000000000", "[1,NULL,3]", "1767225600", "20454", "1", "0.5", "-32768", "7", "dflt"], rows[0]);
        Assert.Equal(["1", "green", "\\N", "abcd", "-9999999999.9999", "-7.00", "-9223372036854775808.0000000000", "[]", "0", "0", "0", "-10000000000", "32767", "\\N", "dflt"], rows[1]);
        var letters = dl.Letters.OrderBy(l => (int)l.Position.Single(p => p.Key == "batch_row").Value).ToList();
        Assert.Equal(6, letters.Count);
        Assert.Contains("'fs'", letters[0].Error, StringComparison.Ordinal);
        Assert.Contains("'dec'", letters[1].Error, StringComparison.Ordinal);
        Assert.Contains("'deci'", letters[2].Error, StringComparison.Ordinal);
        Assert.Contains("'arr'", letters[3].Error, StringComparison.Ordinal);
        Assert.Contains("'dt'", letters[4].Error, StringComparison.Ordinal);
        Assert.Contains("'d'", letters[5].Error, StringComparison.Ordinal);
        Assert.All(letters, l => Assert.Contains(table, l.Error, StringComparison.Ordinal));
        Assert.Contains("\"fs\":\"abcde\"", Encoding.UTF8.GetString(letters[0].Raw.Span), StringComparison.Ordinal);
    }

    private async Task CreateWithLowCardinality(string ddl)
    {
        using var http = new HttpClient();
        using var content = new StringContent(ddl);
        using var resp = await http.PostAsync(fx.Server.HttpUrl + "/?allow_experimental_low_cardinality_type=1", content, Ct);
        Assert.True(resp.IsSuccessStatusCode, await resp.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Create_table_builds_merge_tree_and_replacing_merge_tree_ddl_from_the_schema()
    {
        var t1 = Table("ddl_mt");
        await using (var w = Writer(Options(fx.Server, t1, DeliveryGuarantee.ExactlyOnce) with { CreateTable = true, OrderBy = ["s", "id"], PartitionBy = "toYYYYMM(d)" }, AllTypes))
            await w.OpenAsync(null, Ct);
        var cols = (await Rows(fx.Server, $"SELECT name, type FROM system.columns WHERE database = 'default' AND table = '{t1}'")).ToDictionary(r => r[0], r => r[1]);
        var v18 = (await fx.Server.QueryAsync("SELECT version()", Ct)).StartsWith("18.", StringComparison.Ordinal);
        Assert.Equal("Int64", cols["id"]);
        Assert.Equal("Nullable(UInt8)", cols["b"]);
        Assert.Equal("Nullable(Int32)", cols["i32"]);
        Assert.Equal("Nullable(Float64)", cols["f64"]);
        Assert.Equal("String", cols["s"]); // a sort-key column is not Nullable
        Assert.Equal(v18 ? "Nullable(Int64)" : "Nullable(DateTime64(6, \\'UTC\\'))", cols["ts"]);
        Assert.Equal("Date", cols["d"]); // in the partition key: not Nullable
        Assert.Equal("String", cols["_aietl_writer"]);
        Assert.Equal("UInt64", cols["_aietl_checkpoint"]);
        var create = await fx.Server.QueryAsync($"SHOW CREATE TABLE {t1}", Ct);
        Assert.Contains("ENGINE = MergeTree", create, StringComparison.Ordinal);
        Assert.Contains("PARTITION BY toYYYYMM(d)", create, StringComparison.Ordinal);
        Assert.Contains("ORDER BY (s, id)", create, StringComparison.Ordinal);

        var t2 = Table("ddl_rmt");
        var schema = new Schema.Builder()
            .Field(ColumnTypes.Field("k", ColumnKind.Int64, false))
            .Field(ColumnTypes.Field("ver", ColumnKind.Int64, false))
            .Field(ColumnTypes.Field("at", ColumnKind.Timestamp, false))
            .Build();
        var opts = Options(fx.Server, t2) with { CreateTable = true, Engine = ClickHouseTableEngine.ReplacingMergeTree, OrderBy = ["k"], VersionColumn = "ver", TimestampPrecision = ClickHouseTimestampPrecision.Seconds };
        Assert.Empty(new ClickHouseSink(opts).Validate(schema));
        await using (var w = Writer(opts, schema))
        {
            await w.OpenAsync(null, Ct);
            var k = new Int64Array.Builder().AppendRange([1, 1, 2]).Build();
            var ver = new Int64Array.Builder().AppendRange([1, 2, 1]).Build();
            using var batch = new Batch(new RecordBatch(schema, [k, ver, Timestamps([1_500_000, 2_500_000, 3_999_999])], 3));
            await w.WriteAsync(batch, Ct);
            await w.PreCommitAsync(1, Ct);
        }
        create = await fx.Server.QueryAsync($"SHOW CREATE TABLE {t2}", Ct);
        Assert.Contains("ReplacingMergeTree(ver)", create, StringComparison.Ordinal);
        Assert.Contains("DateTime(\\'UTC\\')", create, StringComparison.Ordinal);
        Assert.Equal([["1", "2", "2"], ["2", "1", "3"]], await Rows(fx.Server, $"SELECT k, ver, toUnixTimestamp(at) FROM {t2} FINAL ORDER BY k"));
    }

    [Fact]
    public async Task Permanent_errors_fail_at_once_naming_table_and_column()
    {
        var t = Table("perm");
        await fx.Server.QueryAsync($"CREATE TABLE {t} (id Int64, payload Int64) ENGINE = MergeTree ORDER BY id", Ct);

        // Type mismatch, found before the first insert.
        var e = await Assert.ThrowsAsync<ClickHouseSinkException>(async () =>
        {
            await using var w = Writer(Options(fx.Server, t), KeySchema);
            await w.OpenAsync(null, Ct);
        });
        Assert.Contains($"default.{t}", e.Message, StringComparison.Ordinal);
        Assert.Contains("'payload'", e.Message, StringComparison.Ordinal);
        Assert.Contains("string cannot be written to Int64", e.Message, StringComparison.Ordinal);
        Assert.False(e.IsTransient);

        // Unknown column.
        var schema = new Schema.Builder().Field(ColumnTypes.Field("id", ColumnKind.Int64, false)).Field(ColumnTypes.Field("Payload", ColumnKind.Int64, false)).Build();
        e = await Assert.ThrowsAsync<ClickHouseSinkException>(async () =>
        {
            await using var w = Writer(Options(fx.Server, t), schema);
            await w.OpenAsync(null, Ct);
        });
        Assert.Contains($"table default.{t} has no column 'Payload'", e.Message, StringComparison.Ordinal);
        Assert.Contains("did you mean 'payload'", e.Message, StringComparison.Ordinal);

        // Unknown table.
        e = await Assert.ThrowsAsync<ClickHouseSinkException>(async () =>
        {
            await using var w = Writer(Options(fx.Server, t + "_missing"), schema);
            await w.OpenAsync(null, Ct);
        });
        Assert.Contains($"default.{t}_missing does not exist", e.Message, StringComparison.Ordinal);

        // Exactly-once without the bookkeeping columns.
        var okSchema = new Schema.Builder().Field(ColumnTypes.Field("id", ColumnKind.Int64, false)).Field(ColumnTypes.Field("payload", ColumnKind.Int64, false)).Build();
        e = await Assert.ThrowsAsync<ClickHouseSinkException>(async () =>
        {
            await using var w = Writer(Options(fx.Server, t, DeliveryGuarantee.ExactlyOnce), okSchema);
            await w.OpenAsync(null, Ct);
        });
        Assert.Contains("_aietl_writer", e.Message, StringComparison.Ordinal);
        Assert.Contains("_aietl_checkpoint", e.Message, StringComparison.Ordinal);

        // The table changes under a running writer: the server's error, not retried, names table and column.
        await using (var w = Writer(Options(fx.Server, t), okSchema))
        {
            await w.OpenAsync(null, Ct);
            await fx.Server.QueryAsync($"ALTER TABLE {t} DROP COLUMN payload", Ct);
            var ids = new Int64Array.Builder().AppendRange([1, 2]).Build();
            using var batch = new Batch(new RecordBatch(okSchema, [ids, ids], 2));
            await w.WriteAsync(batch, Ct);
            var sw = Stopwatch.StartNew();
            e = await Assert.ThrowsAsync<ClickHouseSinkException>(async () => await w.PreCommitAsync(1, Ct));
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
            Assert.Equal(0, w.Retries);
            Assert.False(e.IsTransient);
            Assert.Contains($"default.{t}", e.Message, StringComparison.Ordinal);
            Assert.Contains("payload", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Batches_by_rows_bytes_and_time()
    {
        var t = Table("batching");
        var opts = Options(fx.Server, t) with { CreateTable = true, OrderBy = ["id"], BatchRows = 1000, BatchBytes = 64 << 10, FlushInterval = TimeSpan.FromMilliseconds(200) };
        await using var w = Writer(opts, KeySchema);
        await w.OpenAsync(null, Ct);
        using (var b = KeyBatch(0, 2500)) await w.WriteAsync(b, Ct);
        // Two inserts of 1000 rows queued (both may still be in flight: up to two inserts are queued while the next
        // rows are encoded), 500 rows buffered.
        Assert.InRange(w.RowsInserted, 0, 2000);
        Assert.InRange(w.BufferedBytes, 1, 64 << 10);

        // Time: the buffered rows go in without another batch, as a third insert.
        var sw = Stopwatch.StartNew();
        while (w.RowsInserted < 2500 && sw.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(20, Ct);
        Assert.Equal(2500, w.RowsInserted);
        Assert.Equal(3, w.Inserts);
        Assert.Equal(2500, await Long(fx.Server, $"SELECT count() FROM {t}"));

        // Bytes: 64 KiB holds ~4000 of these rows; a 20000-row batch becomes several inserts below the limit.
        var wide = opts with { BatchRows = 1_000_000 };
        await using var w2 = Writer(wide with { Table = t }, KeySchema);
        await w2.OpenAsync(null, Ct);
        using (var b = KeyBatch(10_000, 20_000)) await w2.WriteAsync(b, Ct);
        await w2.PreCommitAsync(1, Ct);
        Assert.True(w2.Inserts >= 5, $"{w2.Inserts} inserts");
        Assert.InRange(w2.PeakBufferedBytes, 1, 64 << 10);
        Assert.Equal(22_500, await Long(fx.Server, $"SELECT count() FROM {t}"));
    }

    [Theory]
    [InlineData(ClickHouseCompression.Gzip)]
    [InlineData(ClickHouseCompression.Lz4)]
    public async Task Compressed_inserts_arrive_intact(ClickHouseCompression compression)
    {
        var t = Table("comp");
        await using (var w = Writer(Options(fx.Server, t) with { CreateTable = true, OrderBy = ["id"], Compression = compression, BatchRows = 30_000 }, KeySchema))
        {
            await w.OpenAsync(null, Ct);
            for (var i = 0; i < 5; i++)
            {
                using var b = KeyBatch(i * 20_000, 20_000);
                await w.WriteAsync(b, Ct);
            }
            await w.PreCommitAsync(1, Ct);
        }
        Assert.Equal(100_000, await Long(fx.Server, $"SELECT count() FROM {t}"));
        Assert.Equal(4_999_950_000, await Long(fx.Server, $"SELECT sum(id) FROM {t}"));
        Assert.Equal(100_000, await Long(fx.Server, $"SELECT uniqExact(payload) FROM {t}"));
    }

    [Theory]
    [InlineData(DeliveryGuarantee.ExactlyOnce)]
    [InlineData(DeliveryGuarantee.AtLeastOnce)]
    public async Task A_paused_server_blocks_the_writer_with_bounded_memory_and_nothing_is_lost(DeliveryGuarantee delivery)
    {
        var t = Table("pause");
        const int BatchBytes = 256 << 10;
        var opts = Options(fx.Server, t, delivery) with
        {
            CreateTable = true, OrderBy = ["id"], BatchRows = 5000, BatchBytes = BatchBytes, RequestTimeout = TimeSpan.FromMilliseconds(800),
            FlushInterval = TimeSpan.FromMilliseconds(100),
        };
        await using var w = Writer(opts, KeySchema);
        await w.OpenAsync(null, Ct);
        const int Batches = 40, Rows = 2000;
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < Batches; i++)
            {
                using var b = KeyBatch((long)i * Rows, Rows);
                await w.WriteAsync(b, Ct);
                if (i == 10) fx.Server.Pause();
                Assert.InRange(w.BufferedBytes, 0, BatchBytes);
            }
            await w.PreCommitAsync(1, Ct);
        }, Ct);
        await Task.Delay(3000, Ct);
        Assert.False(writing.IsCompleted, "the writer should block while the server is paused");
        fx.Server.Resume();
        await writing;
        Assert.True(w.Retries > 0);
        Assert.InRange(w.PeakBufferedBytes, 1, BatchBytes);
        Assert.InRange(w.BufferCapacity, 1, BatchBytes + (64 << 10));
        Assert.Equal(Batches * Rows, await Long(fx.Server, $"SELECT uniqExact(id) FROM {t}"));
        if (delivery == DeliveryGuarantee.ExactlyOnce) Assert.Equal(Batches * Rows, await Long(fx.Server, $"SELECT count() FROM {t}"));
    }

    [Fact]
    public async Task Opening_against_a_frozen_server_retries_until_it_answers()
    {
        var t = Table("open_frozen");
        var opts = Options(fx.Server, t, DeliveryGuarantee.ExactlyOnce) with { CreateTable = true, OrderBy = ["id"], RequestTimeout = TimeSpan.FromMilliseconds(500) };
        await using var w = Writer(opts, KeySchema);
        fx.Server.Pause();
        Task open;
        try
        {
            open = w.OpenAsync(null, Ct).AsTask();
            await Task.Delay(2000, Ct);
            Assert.False(open.IsCompleted);
        }
        finally
        {
            fx.Server.Resume();
        }
        await open;
        Assert.True(w.Retries > 0);
        using (var b = KeyBatch(0, 10)) await w.WriteAsync(b, Ct);
        await w.PreCommitAsync(1, Ct);
        Assert.Equal(10, await Long(fx.Server, $"SELECT count() FROM {t}"));
    }

    [Fact]
    public async Task Retries_stop_after_max_retry_time()
    {
        var t = Table("giveup");
        var opts = Options(fx.Server, t) with { CreateTable = true, OrderBy = ["id"], RequestTimeout = TimeSpan.FromMilliseconds(300), MaxRetryTime = TimeSpan.FromSeconds(1.5) };
        await using var w = Writer(opts, KeySchema);
        await w.OpenAsync(null, Ct);
        using var b = KeyBatch(0, 10);
        await w.WriteAsync(b, Ct);
        fx.Server.Pause();
        try
        {
            var sw = Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<ClickHouseSinkException>(async () => await w.PreCommitAsync(1, Ct));
            Assert.Contains("giving up", e.Message, StringComparison.Ordinal);
            Assert.InRange(sw.Elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
        }
        finally
        {
            fx.Server.Resume();
        }
    }
}
