using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Connectors.Files;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Files;

public sealed class TextFileSinkTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Schema AllKinds = new Schema.Builder()
        .Field(ColumnTypes.Field("i64", ColumnKind.Int64))
        .Field(ColumnTypes.Field("i32", ColumnKind.Int32))
        .Field(ColumnTypes.Field("f", ColumnKind.Float64))
        .Field(ColumnTypes.Field("b", ColumnKind.Bool))
        .Field(ColumnTypes.Field("s", ColumnKind.String))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp))
        .Field(ColumnTypes.Field("d", ColumnKind.Date))
        .Build();

    private static readonly Schema Simple = new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64))
        .Field(ColumnTypes.Field("name", ColumnKind.String))
        .Build();

    private static Batch SimpleBatch(int from, int count) =>
        Batches.Make(Simple, [.. Enumerable.Range(from, count).Select(i => new object?[] { (long)i, $"row {i}" })]);

    private static string Lines(int from, int count) =>
        string.Concat(Enumerable.Range(from, count).Select(i => $"{{\"id\":{i},\"name\":\"row {i}\"}}\n"));

    private static async Task Write(ISinkWriter w, Batch b)
    {
        using (b) await w.WriteAsync(b, Ct);
    }

    private static async Task<string> WriteOnce(ISink sink, Schema schema, params object?[][] rows)
    {
        await using var w = sink.CreateWriter(schema, Contexts.Create());
        await w.OpenAsync(null, Ct);
        await Write(w, Batches.Make(schema, rows));
        await w.PreCommitAsync(1, Ct);
        await w.CommitAsync(1, Ct);
        return "";
    }

    [Fact]
    public async Task Json_lines_format_is_exact()
    {
        var path = _dir.File("out.jsonl");
        await WriteOnce(new JsonLinesFileSink(new JsonLinesSinkOptions { Path = path }), AllKinds,
            [9007199254740993L, -5, 0.1, true, "plain", new DateTime(2024, 3, 1, 12, 30, 45, DateTimeKind.Utc).AddTicks(1234560), new DateOnly(2024, 2, 29)],
            [long.MinValue, int.MaxValue, 1e20, false, "q\"b\\s\n\r\t\b\f\u0001\u001f é 😀 \u2028", -1L, -1],
            [null, null, double.NaN, null, "", 253402300799999999L, 2932896],
            [0L, 0, double.PositiveInfinity, false, null, 0L, 0],
            [1L, 1, double.NegativeInfinity, true, "x", 1L, 1],
            [2L, 2, -0.0, true, "x", -62135596800000000L, -719162],
            [3L, 3, 5e-324, true, "x", 0L, 0],
            [4L, 4, 1.0 / 3, true, "x", 0L, 0]);
        var expected =
            "{\"i64\":9007199254740993,\"i32\":-5,\"f\":0.1,\"b\":true,\"s\":\"plain\",\"ts\":\"2024-03-01T12:30:45.123456Z\",\"d\":\"2024-02-29\"}\n" +
            "{\"i64\":-9223372036854775808,\"i32\":2147483647,\"f\":1E+20,\"b\":false,\"s\":\"q\\\"b\\\\s\\n\\r\\t\\b\\f\\u0001\\u001f é 😀 \u2028\",\"ts\":\"1969-12-31T23:59:59.999999Z\",\"d\":\"1969-12-31\"}\n" +
            "{\"i64\":null,\"i32\":null,\"f\":\"NaN\",\"b\":null,\"s\":\"\",\"ts\":\"9999-12-31T23:59:59.999999Z\",\"d\":\"9999-12-31\"}\n" +
            "{\"i64\":0,\"i32\":0,\"f\":\"Infinity\",\"b\":false,\"s\":null,\"ts\":\"1970-01-01T00:00:00.000000Z\",\"d\":\"1970-01-01\"}\n" +
            "{\"i64\":1,\"i32\":1,\"f\":\"-Infinity\",\"b\":true,\"s\":\"x\",\"ts\":\"1970-01-01T00:00:00.000001Z\",\"d\":\"1970-01-02\"}\n" +
            "{\"i64\":2,\"i32\":2,\"f\":-0,\"b\":true,\"s\":\"x\",\"ts\":\"0001-01-01T00:00:00.000000Z\",\"d\":\"0001-01-01\"}\n" +
            "{\"i64\":3,\"i32\":3,\"f\":5E-324,\"b\":true,\"s\":\"x\",\"ts\":\"1970-01-01T00:00:00.000000Z\",\"d\":\"1970-01-01\"}\n" +
            "{\"i64\":4,\"i32\":4,\"f\":0.3333333333333333,\"b\":true,\"s\":\"x\",\"ts\":\"1970-01-01T00:00:00.000000Z\",\"d\":\"1970-01-01\"}\n";
        Assert.Equal(expected, await File.ReadAllTextAsync(path, Ct));
        // Every line is valid JSON.
        foreach (var line in (await File.ReadAllLinesAsync(path, Ct))) System.Text.Json.JsonDocument.Parse(line).Dispose();
    }

    [Fact]
    public async Task Json_keys_are_escaped_and_zero_column_rows_are_empty_objects()
    {
        var schema = new Schema.Builder().Field(ColumnTypes.Field("we\"ird\nkey", ColumnKind.Int32)).Build();
        var path = _dir.File("k.jsonl");
        await WriteOnce(new JsonLinesFileSink(new JsonLinesSinkOptions { Path = path }), schema, [1]);
        Assert.Equal("{\"we\\\"ird\\nkey\":1}\n", await File.ReadAllTextAsync(path, Ct));
    }

    [Fact]
    public async Task Single_file_restart_truncates_to_the_last_completed_checkpoint()
    {
        var path = _dir.File("sub/out.jsonl");
        var sink = new JsonLinesFileSink(new JsonLinesSinkOptions { Path = path });
        Assert.Equal(1, sink.MaxParallelism);
        byte[]? state1, state2;
        var w = sink.CreateWriter(Simple, Contexts.Create());
        await w.OpenAsync(null, Ct);
        await Write(w, SimpleBatch(0, 3));
        state1 = await w.PreCommitAsync(1, Ct);
        await w.CommitAsync(1, Ct);
        await Write(w, SimpleBatch(3, 2));
        state2 = await w.PreCommitAsync(2, Ct);
        await Write(w, SimpleBatch(5, 4));
        await w.DisposeAsync(); // crash: checkpoint 2 pre-committed, rows 5..8 never committed
        Assert.Equal(Lines(0, 9), await File.ReadAllTextAsync(path, Ct));

        // Checkpoint 2 completed before the crash: restore from it.
        await using (var again = sink.CreateWriter(Simple, Contexts.Create()))
        {
            await again.OpenAsync(state2, Ct);
            Assert.Equal(Lines(0, 5), await File.ReadAllTextAsync(path, Ct));
            await Write(again, SimpleBatch(5, 1));
            await again.PreCommitAsync(3, Ct);
            await again.CommitAsync(3, Ct);
        }
        Assert.Equal(Lines(0, 6), await File.ReadAllTextAsync(path, Ct));

        // Had checkpoint 2 not completed, the restore uses checkpoint 1.
        await using (var older = sink.CreateWriter(Simple, Contexts.Create()))
        {
            await older.OpenAsync(state1, Ct);
        }
        Assert.Equal(Lines(0, 3), await File.ReadAllTextAsync(path, Ct));

        // A fresh run starts the file over.
        await using (var fresh = sink.CreateWriter(Simple, Contexts.Create()))
        {
            await fresh.OpenAsync(null, Ct);
        }
        Assert.Equal("", await File.ReadAllTextAsync(path, Ct));
    }

    [Fact]
    public async Task Restoring_onto_a_file_shorter_than_committed_fails_loudly()
    {
        var path = _dir.File("out.jsonl");
        var sink = new JsonLinesFileSink(new JsonLinesSinkOptions { Path = path });
        byte[]? state;
        await using (var w = sink.CreateWriter(Simple, Contexts.Create()))
        {
            await w.OpenAsync(null, Ct);
            await Write(w, SimpleBatch(0, 3));
            state = await w.PreCommitAsync(1, Ct);
        }
        await File.WriteAllTextAsync(path, "x", Ct);
        await using var again = sink.CreateWriter(Simple, Contexts.Create());
        await Assert.ThrowsAsync<IOException>(async () => await again.OpenAsync(state, Ct));
    }

    [Fact]
    public async Task Directory_mode_commits_one_part_per_instance_per_checkpoint_and_discards_the_rest_on_restore()
    {
        var dir = _dir.File("out") + "/";
        var sink = new JsonLinesFileSink(new JsonLinesSinkOptions { Path = dir });
        Assert.True(sink.MaxParallelism > 1);
        var w = sink.CreateWriter(Simple, Contexts.Create(index: 3, parallelism: 4));
        await w.OpenAsync(null, Ct);
        await Write(w, SimpleBatch(0, 2));
        Assert.Equal(["part-3.jsonl.inprogress"], Names(dir));
        var s1 = await w.PreCommitAsync(1, Ct);
        Assert.Equal(["part-3-0000000001.jsonl.pending"], Names(dir));
        await w.CommitAsync(1, Ct);
        Assert.Equal(["part-3-0000000001.jsonl"], Names(dir));
        var s2 = await w.PreCommitAsync(2, Ct); // nothing written: no part file
        await Write(w, SimpleBatch(2, 3));
        var s3 = await w.PreCommitAsync(3, Ct);
        await Write(w, SimpleBatch(5, 1));
        await w.DisposeAsync(); // crash before checkpoint 3's commit
        Assert.Equal(["part-3-0000000001.jsonl", "part-3-0000000003.jsonl.pending", "part-3.jsonl.inprogress"], Names(dir));

        // Restore from checkpoint 3 (it completed; only its commit notification was lost).
        await using (var again = sink.CreateWriter(Simple, Contexts.Create(index: 3, parallelism: 4)))
        {
            await again.OpenAsync(s3, Ct);
            Assert.Equal(["part-3-0000000001.jsonl", "part-3-0000000003.jsonl"], Names(dir));
            // Idempotent: opening with the same state again changes nothing.
        }
        await using (var again = sink.CreateWriter(Simple, Contexts.Create(index: 3, parallelism: 4)))
        {
            await again.OpenAsync(s3, Ct);
        }
        Assert.Equal(Lines(0, 2), await File.ReadAllTextAsync(dir + "part-3-0000000001.jsonl", Ct));
        Assert.Equal(Lines(2, 3), await File.ReadAllTextAsync(dir + "part-3-0000000003.jsonl", Ct));

        // Restore from checkpoint 2 in another scenario: checkpoint 3's pending part is discarded.
        File.Move(dir + "part-3-0000000003.jsonl", dir + "part-3-0000000003.jsonl.pending");
        File.WriteAllText(dir + "part-3.jsonl.inprogress", "junk");
        File.WriteAllText(dir + "part-1-0000000009.jsonl.pending", "other instance");
        await using (var older = sink.CreateWriter(Simple, Contexts.Create(index: 3, parallelism: 4)))
        {
            await older.OpenAsync(s2, Ct);
        }
        Assert.Equal(["part-1-0000000009.jsonl.pending", "part-3-0000000001.jsonl"], Names(dir));
        // State lists what is pre-committed but not yet committed.
        Assert.Contains("part-3-0000000001.jsonl", Encoding.UTF8.GetString(s1!), StringComparison.Ordinal);
        Assert.Contains("\"pending\":[]", Encoding.UTF8.GetString(s2!), StringComparison.Ordinal);
    }

    private static string[] Names(string dir) => [.. Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    [Fact]
    public async Task Csv_output_reads_back_through_the_csv_source_exactly()
    {
        var path = _dir.File("out.csv");
        object?[][] rows =
        [
            [1L, 2, 0.1, true, "a,b", new DateTime(2024, 3, 1, 0, 0, 0, DateTimeKind.Utc), new DateOnly(2024, 3, 1)],
            [2L, null, double.NaN, false, "", -1L, -1],
            [3L, -3, double.NegativeInfinity, null, null, null, null],
            [4L, 4, 1e-7, true, "say \"hi\"\nnext line\r\nthird", 0L, 0],
        ];
        await WriteOnce(new CsvFileSink(new CsvSinkOptions { Path = path }), AllKinds, rows);
        Assert.Equal(
            "i64,i32,f,b,s,ts,d\n" +
            "1,2,0.1,true,\"a,b\",2024-03-01T00:00:00.000000Z,2024-03-01\n" +
            "2,,NaN,false,\"\",1969-12-31T23:59:59.999999Z,1969-12-31\n" +
            "3,-3,-Infinity,,,,\n" +
            "4,4,1E-07,true,\"say \"\"hi\"\"\nnext line\r\nthird\",1970-01-01T00:00:00.000000Z,1970-01-01\n",
            await File.ReadAllTextAsync(path, Ct));

        FileColumn[] declared = [.. AllKinds.FieldsList.Select(f => new FileColumn(f.Name, ColumnTypes.FromArrow(f.DataType)))];
        var source = new CsvFileSource(new CsvSourceOptions { Path = path, Columns = declared });
        var letters = new CollectingDeadLetters();
        await using var reader = source.CreateReader(Contexts.Create(letters));
        var back = await Batches.ReadAll(reader);
        Assert.Empty(letters.Letters);
        using var original = Batches.Make(AllKinds, rows);
        Assert.Equal(Batches.Show(Batches.Rows(original)), Batches.Show(back));
    }

    [Fact]
    public async Task Csv_single_file_restore_keeps_one_header_and_the_committed_rows()
    {
        var path = _dir.File("out.csv");
        var sink = new CsvFileSink(new CsvSinkOptions { Path = path, Delimiter = ';' });
        byte[]? state;
        var w = sink.CreateWriter(Simple, Contexts.Create());
        await w.OpenAsync(null, Ct);
        state = await w.PreCommitAsync(1, Ct); // header only
        await Write(w, SimpleBatch(0, 2));
        await w.DisposeAsync();
        await using (var again = sink.CreateWriter(Simple, Contexts.Create()))
        {
            await again.OpenAsync(state, Ct);
            await Write(again, SimpleBatch(7, 1));
            await again.PreCommitAsync(2, Ct);
        }
        Assert.Equal("id;name\n7;row 7\n", await File.ReadAllTextAsync(path, Ct));
    }

    [Fact]
    public async Task Csv_directory_parts_each_start_with_a_header()
    {
        var dir = _dir.File("csv") + "/";
        var sink = new CsvFileSink(new CsvSinkOptions { Path = dir });
        await using var w = sink.CreateWriter(Simple, Contexts.Create());
        await w.OpenAsync(null, Ct);
        for (var cp = 1; cp <= 2; cp++)
        {
            await Write(w, SimpleBatch(cp, 1));
            await w.PreCommitAsync(cp, Ct);
            await w.CommitAsync(cp, Ct);
        }
        Assert.Equal("id,name\n1,row 1\n", await File.ReadAllTextAsync(dir + "part-0-0000000001.csv", Ct));
        Assert.Equal("id,name\n2,row 2\n", await File.ReadAllTextAsync(dir + "part-0-0000000002.csv", Ct));
    }

    [Fact]
    public async Task Large_output_is_flushed_in_chunks_and_complete()
    {
        var path = _dir.File("big.jsonl");
        var sink = new JsonLinesFileSink(new JsonLinesSinkOptions { Path = path });
        await using (var w = sink.CreateWriter(Simple, Contexts.Create()))
        {
            await w.OpenAsync(null, Ct);
            for (var i = 0; i < 40; i++) await Write(w, SimpleBatch(i * 1000, 1000));
            await w.PreCommitAsync(1, Ct);
        }
        Assert.Equal(Lines(0, 40_000), await File.ReadAllTextAsync(path, Ct));
    }

    [Fact]
    public void Sink_options_are_validated()
    {
        Assert.Throws<ConnectorConfigException>(() => new JsonLinesFileSink(new JsonLinesSinkOptions { Path = " " }));
        var e = Assert.Throws<ConnectorConfigException>(() => new CsvFileSink(new CsvSinkOptions { Path = "", Delimiter = '\n' }));
        Assert.Equal(2, e.Problems.Count);
        var unsupported = new Schema.Builder().Field(new Field("x", Apache.Arrow.Types.FloatType.Default, true)).Build();
        Assert.Single(new JsonLinesFileSink(new JsonLinesSinkOptions { Path = "x.jsonl" }).Validate(unsupported));
        _ = Encoding.UTF8;
    }
}
