using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Connectors.Files;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;
using Parquet;
using Parquet.Schema;

namespace AiEtl.Engine.Tests.Files;

public sealed class ParquetTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Apache.Arrow.Schema AllKinds = new Apache.Arrow.Schema.Builder()
        .Field(ColumnTypes.Field("i64", ColumnKind.Int64))
        .Field(ColumnTypes.Field("i32", ColumnKind.Int32))
        .Field(ColumnTypes.Field("f", ColumnKind.Float64))
        .Field(ColumnTypes.Field("b", ColumnKind.Bool))
        .Field(ColumnTypes.Field("s", ColumnKind.String))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp))
        .Field(ColumnTypes.Field("d", ColumnKind.Date))
        .Build();

    private static FileColumn[] Declared(Apache.Arrow.Schema s, params string[] required) =>
        [.. s.FieldsList.Select(f => new FileColumn(f.Name, ColumnTypes.FromArrow(f.DataType), required.Contains(f.Name)))];

    private static object?[] Row(int i) =>
    [
        i % 7 == 3 ? null : 9_007_199_254_740_993L + i,
        i % 5 == 1 ? null : -i,
        i % 11 == 2 ? null : i / 3.0,
        i % 13 == 4 ? null : i % 2 == 0,
        i % 9 == 5 ? null : i % 4 == 0 ? "" : $"s{i} é😀",
        i % 6 == 0 ? null : -1_000_000_000L + i * 1_234_567L,
        i % 8 == 7 ? null : i - 100,
    ];

    /// <summary>Writes rows through the sink in batches, committing one checkpoint at the end.</summary>
    private static async Task WriteParts(ParquetFileSink sink, Apache.Arrow.Schema schema, IEnumerable<object?[]> rows, int batchSize, long checkpoint = 1, byte[]? restore = null)
    {
        await using var w = sink.CreateWriter(schema, Contexts.Create());
        await w.OpenAsync(restore, Ct);
        foreach (var chunk in rows.Chunk(batchSize))
        {
            using var b = Batches.Make(schema, chunk);
            await w.WriteAsync(b, Ct);
        }
        await w.PreCommitAsync(checkpoint, Ct);
        await w.CommitAsync(checkpoint, Ct);
    }

    private static async Task<(List<object?[]> Rows, CollectingDeadLetters Letters)> Read(ParquetSourceOptions o, int index = 0, int parallelism = 1)
    {
        var source = await ParquetFileSource.OpenAsync(o, Ct);
        var letters = new CollectingDeadLetters();
        await using var reader = source.CreateReader(Contexts.Create(letters, index, parallelism));
        return (await Batches.ReadAll(reader), letters);
    }

    [Fact]
    public async Task Sink_output_reads_back_through_the_source_with_every_kind_and_null()
    {
        var rows = Enumerable.Range(0, 1000).Select(Row).ToList();
        var sink = new ParquetFileSink(new ParquetSinkOptions { Path = _dir.File("out.parquet"), RowGroupRows = 300 });
        await WriteParts(sink, AllKinds, rows, 128);
        var part = Path.Combine(sink.PartsDirectory, "part-0000000001.parquet");
        Assert.Equal([part], Directory.GetFiles(sink.PartsDirectory));

        await using (var r = await ParquetReader.CreateAsync(part, null, Ct))
        {
            Assert.Equal(4, r.RowGroupCount);
            var ts = Assert.IsType<DateTimeDataField>(r.Schema.DataFields[5]);
            Assert.Equal(DateTimeTimeUnit.Micros, ts.Unit);
            Assert.Equal(DateTimeFormat.Date, Assert.IsType<DateTimeDataField>(r.Schema.DataFields[6]).DateTimeFormat);
        }

        var (back, letters) = await Read(new ParquetSourceOptions { Path = part, Columns = Declared(AllKinds), BatchSize = 100 });
        Assert.Empty(letters.Letters);
        using var expected = Batches.Make(AllKinds, [.. rows]);
        Assert.Equal(Batches.Show(Batches.Rows(expected)), Batches.Show(back));
    }

    [Fact]
    public async Task Columns_are_selected_by_name_and_narrow_numbers_widen()
    {
        var path = _dir.File("narrow.parquet");
        var fields = new DataField[] { new DataField<int>("small"), new DataField<float?>("ratio"), new DataField<string>("label", true), new DataField<short>("tiny") };
        await using (var fs = File.Create(path))
        await using (var w = await ParquetWriter.CreateAsync(new ParquetSchema(fields), fs, null, false, Ct))
        {
            using var rg = w.CreateRowGroup();
            await rg.WriteAsync<int>(fields[0], new[] { 1, -2, int.MaxValue }, null, null, Ct);
            await rg.WriteAsync<float>(fields[1], new float?[] { 0.5f, null, -1.25f }, null, null, Ct);
            await rg.WriteAllPartsAsync<ReadOnlyMemory<char>>(fields[2], new[] { "a".AsMemory(), "c".AsMemory() }, new[] { 1, 0, 1 }, null, Ct);
            await rg.WriteAsync<short>(fields[3], new short[] { 7, -8, 9 }, null, null, Ct);
        }
        FileColumn[] cols = [new("label", ColumnKind.String), new("small", ColumnKind.Int64, Required: true), new("ratio", ColumnKind.Float64), new("tiny", ColumnKind.Int32), new("absent", ColumnKind.Bool)];
        var (rows, _) = await Read(new ParquetSourceOptions { Path = path, Columns = cols });
        Assert.Equal("a|1|0.5|7|∅\n∅|-2|∅|-8|∅\nc|2147483647|-1.25|9|∅", Batches.Show(rows));
    }

    [Fact]
    public async Task Type_mismatches_and_missing_required_columns_are_reported_together()
    {
        var sink = new ParquetFileSink(new ParquetSinkOptions { Path = _dir.File("out.parquet") });
        await WriteParts(sink, AllKinds, [Row(1)], 10);
        FileColumn[] cols = [new("s", ColumnKind.Int64), new("ts", ColumnKind.Date), new("i64", ColumnKind.Int32), new("nope", ColumnKind.String, Required: true), new("f", ColumnKind.Float64)];
        var e = await Assert.ThrowsAsync<ConnectorConfigException>(async () =>
            await ParquetFileSource.OpenAsync(new ParquetSourceOptions { Path = sink.PartsDirectory + "/*.parquet", Columns = cols }, Ct));
        Assert.Equal(4, e.Problems.Count);
        Assert.Contains(e.Problems, p => p.Contains("column s: declared int64 but the file holds string", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("column ts: declared date", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("column i64: declared int32 but the file holds int64", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("required column nope is missing", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Restore_resumes_inside_a_row_group_and_across_files()
    {
        var dir = _dir.File("parts") + "/";
        var sink = new ParquetFileSink(new ParquetSinkOptions { Path = dir, RowGroupRows = 250 });
        var rows = Enumerable.Range(0, 1200).Select(Row).ToList();
        byte[]? state = null;
        await using (var w = sink.CreateWriter(AllKinds, Contexts.Create()))
        {
            await w.OpenAsync(null, Ct);
            for (var cp = 1; cp <= 2; cp++)
            {
                using var b = Batches.Make(AllKinds, [.. rows.Skip((cp - 1) * 600).Take(600)]);
                await w.WriteAsync(b, Ct);
                state = await w.PreCommitAsync(cp, Ct);
                await w.CommitAsync(cp, Ct);
            }
        }
        Assert.NotNull(state);
        var o = new ParquetSourceOptions { Path = dir + "*.parquet", Columns = Declared(AllKinds, "i32"), BatchSize = 110 };
        var (expected, expectedLetters) = await Read(o);
        Assert.Equal(1200 - 240, expected.Count); // i32 is NULL in every fifth row: required → dead letter
        Assert.Equal(240, expectedLetters.Count);
        var letter = expectedLetters.Letters[0];
        Assert.Equal(("schema", 0L, 1L), (letter.ErrorClass, (long)letter.Pos("row_group"), (long)letter.Pos("row")));
        Assert.True(letter.Raw.IsEmpty);

        var source = await ParquetFileSource.OpenAsync(o, Ct);
        for (var cut = 1; cut <= 12; cut += 3)
        {
            var got = new List<object?[]>();
            byte[] position;
            await using (var reader = source.CreateReader(Contexts.Create()))
            {
                got.AddRange(await Batches.ReadAll(reader, cut));
                position = reader.SnapshotPosition();
            }
            await using (var reader = source.CreateReader(Contexts.Create()))
            {
                reader.RestorePosition(position);
                got.AddRange(await Batches.ReadAll(reader));
            }
            Assert.Equal(Batches.Show(expected), Batches.Show(got));
        }
    }

    [Fact]
    public async Task Parquet_sink_crash_keeps_exactly_the_committed_parts()
    {
        var sink = new ParquetFileSink(new ParquetSinkOptions { Path = _dir.File("out.parquet") });
        var parts = sink.PartsDirectory;
        var w = sink.CreateWriter(AllKinds, Contexts.Create());
        await w.OpenAsync(null, Ct);
        using (var b = Batches.Make(AllKinds, [.. Enumerable.Range(0, 10).Select(Row)])) await w.WriteAsync(b, Ct);
        var s1 = await w.PreCommitAsync(1, Ct);
        Assert.Equal(["part-0000000001.parquet.pending"], Names(parts));
        await w.CommitAsync(1, Ct);
        using (var b = Batches.Make(AllKinds, [.. Enumerable.Range(10, 10).Select(Row)])) await w.WriteAsync(b, Ct);
        var s2 = await w.PreCommitAsync(2, Ct);
        using (var b = Batches.Make(AllKinds, [.. Enumerable.Range(20, 10).Select(Row)])) await w.WriteAsync(b, Ct);
        await w.PreCommitAsync(3, Ct); // checkpoint 3 never completes
        using (var b = Batches.Make(AllKinds, [.. Enumerable.Range(30, 10).Select(Row)])) await w.WriteAsync(b, Ct);
        await w.DisposeAsync(); // crash (the last rows were still buffered for their row group)
        Assert.Equal(["part-0000000001.parquet", "part-0000000002.parquet.pending", "part-0000000003.parquet.pending"], Names(parts));
        File.WriteAllText(Path.Combine(parts, "part.parquet.inprogress"), "half a file");

        await using (var again = sink.CreateWriter(AllKinds, Contexts.Create()))
        {
            await again.OpenAsync(s2, Ct);
        }
        Assert.Equal(["part-0000000001.parquet", "part-0000000002.parquet"], Names(parts));
        var (rows, _) = await Read(new ParquetSourceOptions { Path = parts + "/*.parquet", Columns = Declared(AllKinds) });
        using var expected = Batches.Make(AllKinds, [.. Enumerable.Range(0, 20).Select(Row)]);
        Assert.Equal(Batches.Show(Batches.Rows(expected)), Batches.Show(rows));

        // A fresh run starts over.
        await using (var fresh = sink.CreateWriter(AllKinds, Contexts.Create()))
        {
            await fresh.OpenAsync(null, Ct);
        }
        Assert.Empty(Names(parts));
        Assert.NotNull(s1);
    }

    private static string[] Names(string dir) => [.. Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    [Fact]
    public async Task Unreadable_or_missing_files_are_configuration_errors()
    {
        _dir.Write("bad.parquet", "not parquet at all");
        var e = await Assert.ThrowsAsync<ConnectorConfigException>(async () =>
            await ParquetFileSource.OpenAsync(new ParquetSourceOptions { Path = _dir.File("bad.parquet"), Columns = [new("a", ColumnKind.Int64)] }, Ct));
        Assert.Contains("not a readable Parquet file", Assert.Single(e.Problems), StringComparison.Ordinal);
        await Assert.ThrowsAsync<ConnectorConfigException>(async () =>
            await ParquetFileSource.OpenAsync(new ParquetSourceOptions { Path = _dir.File("none-*.parquet"), Columns = [new("a", ColumnKind.Int64)] }, Ct));
    }
}
