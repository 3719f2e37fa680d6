using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors.Files;
using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Json;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Connectors.Files;

public sealed class JsonLinesFileSourceTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("aietl-jsonl-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static Schema Schema() => new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64))
        .Field(ColumnTypes.Field("name", ColumnKind.String))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp))
        .Build();

    private static readonly Dictionary<string, JsonColumnOptions> Columns = new()
    {
        ["id"] = new(Required: true),
        ["ts"] = new(TimeFormat: JsonTimeFormat.EpochMillis),
    };

    private string Write(string name, byte[] content)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    private string Write(string name, string content) => Write(name, Encoding.UTF8.GetBytes(content));

    private static ConnectorContext Context(IDeadLetterOutput dl, int index = 0, int parallelism = 1) => new()
    {
        Task = new TaskInfo { Pipeline = "p", Vertex = "src", Index = index, Parallelism = parallelism },
        DeadLetters = dl,
        Metrics = new EngineMetrics("p"),
    };

    private JsonLinesFileSource Source(string pattern, int batchSize = 8192, int readBuffer = 1 << 20) =>
        new("orders", Schema(), new JsonLinesSourceOptions { Path = Path.Combine(_dir.FullName, pattern), BatchSize = batchSize, Columns = Columns, ReadBufferSize = readBuffer });

    private static async Task<List<long>> ReadIds(ISourceReader reader, List<int>? batchSizes = null)
    {
        var ids = new List<long>();
        while (await reader.ReadNextBatchAsync(CancellationToken.None) is { } batch)
        {
            using (batch)
            {
                batchSizes?.Add(batch.Length);
                var col = (Int64Array)batch.Column(0);
                for (var i = 0; i < batch.Length; i++) ids.Add(col.GetValue(i)!.Value);
            }
        }
        return ids;
    }

    [Fact]
    public async Task Reads_matching_files_in_name_order_in_batches_skipping_blank_lines()
    {
        Write("b.jsonl", "{\"id\":3,\"name\":\"c\"}\r\n\r\n{\"id\":4,\"name\":\"d\",\"ts\":1500}");
        Write("a.jsonl", "{\"id\":1,\"name\":\"a\"}\n   \n\n{\"id\":2,\"name\":\"b\"}\n");
        Write("c.txt", "not json\n");
        var source = Source("*.jsonl", batchSize: 3);
        Assert.Equal(2, source.MaxParallelism);
        Assert.True(source.IsBounded);
        Assert.Equal(["a.jsonl", "b.jsonl"], source.Files.Select(Path.GetFileName));

        var dl = new InMemoryDeadLetterOutput();
        await using var reader = source.CreateReader(Context(dl));
        var sizes = new List<int>();
        Assert.Equal([1L, 2, 3, 4], await ReadIds(reader, sizes));
        Assert.Equal([3, 1], sizes);
        Assert.Equal(0, dl.Count);
        Assert.Null(await reader.ReadNextBatchAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Values_and_crlf_lines_decode_exactly()
    {
        Write("x.jsonl", "{\"id\":1,\"name\":\"é \\\"q\\\"\",\"ts\":1700000000123}\r\n{\"id\":2}\r\n");
        await using var reader = Source("x.jsonl").CreateReader(Context(new InMemoryDeadLetterOutput()));
        using var batch = await reader.ReadNextBatchAsync(CancellationToken.None);
        Assert.NotNull(batch);
        Assert.Equal(2, batch.Length);
        Assert.Equal("é \"q\"", ((StringArray)batch.Column(1)).GetString(0));
        Assert.Equal(1700000000123000L, ((TimestampArray)batch.Column(2)).GetValue(0));
        Assert.True(batch.Column(1).IsNull(1));
    }

    [Fact]
    public async Task Malformed_lines_go_to_dead_letters_with_position_and_raw_bytes()
    {
        var bad1 = "{\"id\":1.5}"u8.ToArray();
        byte[] bad2 = [.. "{\"id\":2,\"name\":\""u8, 0xFF, 0xC0, .. "\"}"u8];
        var content = new List<byte>();
        content.AddRange("{\"id\":1}\n"u8.ToArray());    // line 1, offset 0
        content.AddRange(bad1);                          // line 2, offset 9
        content.AddRange("\r\n\n"u8.ToArray());          // line 3 blank
        content.AddRange(bad2);                          // line 4, offset 22
        content.AddRange("\n{\"id\":3}"u8.ToArray());    // line 5
        var path = Write("in.jsonl", [.. content]);

        var dl = new InMemoryDeadLetterOutput();
        var ctx = Context(dl);
        await using var reader = Source("in.jsonl").CreateReader(ctx);
        Assert.Equal([1L, 3], await ReadIds(reader));

        Assert.Equal(2, dl.Count);
        Assert.Equal(2, ctx.Metrics.DeadLetters);
        var l = dl.Letters;
        Assert.Equal("orders", l[0].Source);
        Assert.Equal("schema", l[0].ErrorClass);
        Assert.Contains("'id'", l[0].Error);
        Assert.Equal(bad1, l[0].Raw.ToArray());
        Assert.Equal([new("file", path), new("line", 2L), new("byte_offset", 9L)], l[0].Position);
        Assert.Equal("decode", l[1].ErrorClass);
        Assert.Equal(bad2, l[1].Raw.ToArray());
        Assert.Equal([new("file", path), new("line", 4L), new("byte_offset", 22L)], l[1].Position);
    }

    [Fact]
    public async Task Lines_longer_than_the_read_buffer_and_oversized_messages_are_handled()
    {
        var longName = new string('x', 20_000);
        var huge = "{\"id\":9,\"name\":\"" + new string('y', JsonRowDecoder.MaxMessageBytes) + "\"}";
        Write("long.jsonl", "{\"id\":1,\"name\":\"" + longName + "\"}\n" + huge + "\n{\"id\":2}\n");
        var dl = new InMemoryDeadLetterOutput();
        await using var reader = Source("long.jsonl", readBuffer: 4096).CreateReader(Context(dl));
        var names = new List<string?>();
        while (await reader.ReadNextBatchAsync(CancellationToken.None) is { } batch)
        {
            using (batch)
                for (var i = 0; i < batch.Length; i++) names.Add(((StringArray)batch.Column(1)).GetString(i));
        }
        Assert.Equal([longName, null], names);
        var letter = Assert.Single(dl.Letters);
        Assert.Equal(Encoding.UTF8.GetBytes(huge), letter.Raw.ToArray());
        Assert.Contains("limit", letter.Error);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Readers_split_files_by_index_modulo_parallelism(int parallelism)
    {
        for (var f = 0; f < 5; f++)
            Write($"f{f}.jsonl", string.Join("\n", Enumerable.Range(0, 10).Select(i => $"{{\"id\":{f * 100 + i}}}")));
        var source = Source("f*.jsonl", batchSize: 4);
        Assert.Equal(5, source.MaxParallelism);
        var all = new List<long>();
        for (var i = 0; i < parallelism; i++)
        {
            await using var reader = source.CreateReader(Context(new InMemoryDeadLetterOutput(), i, parallelism));
            var ids = await ReadIds(reader);
            Assert.All(ids, id => Assert.Equal(i, (int)(id / 100) % parallelism));
            all.AddRange(ids);
        }
        all.Sort();
        Assert.Equal(Enumerable.Range(0, 5).SelectMany(f => Enumerable.Range(0, 10).Select(i => (long)(f * 100 + i))), all);
    }

    [Fact]
    public async Task Restoring_a_snapshot_resumes_right_after_the_last_batch()
    {
        // Lines of varied length (some blank, some bad) over two files, a small read buffer and batch size.
        var rnd = new Random(5);
        var expected = new List<long>();
        var id = 0L;
        for (var f = 0; f < 2; f++)
        {
            var sb = new StringBuilder();
            for (var k = 0; k < 300; k++)
            {
                switch (rnd.Next(10))
                {
                    case 0: sb.Append('\n'); break;
                    case 1: sb.Append("{\"id\":oops}\r\n"); break;
                    default:
                        sb.Append($"{{\"id\":{id},\"name\":\"{new string('n', rnd.Next(0, 3000))}\"}}").Append(rnd.Next(2) == 0 ? "\n" : "\r\n");
                        expected.Add(id++);
                        break;
                }
            }
            Write($"part-{f}.jsonl", sb.ToString());
        }
        var source = Source("part-*.jsonl", batchSize: 7, readBuffer: 4096);

        // Full read, snapshot after every batch.
        var snapshots = new List<(byte[] Position, int RowsSoFar, long DeadSoFar)>();
        var dl = new InMemoryDeadLetterOutput();
        var rows = 0;
        await using (var reader = source.CreateReader(Context(dl)))
        {
            snapshots.Add((reader.SnapshotPosition(), 0, 0));
            while (await reader.ReadNextBatchAsync(CancellationToken.None) is { } batch)
            {
                rows += batch.Length;
                batch.Dispose();
                snapshots.Add((reader.SnapshotPosition(), rows, dl.Count));
            }
        }
        Assert.Equal(expected.Count, rows);
        var totalDead = dl.Count;

        foreach (var (position, rowsSoFar, deadSoFar) in snapshots.Where((_, i) => i % 5 == 0 || i == snapshots.Count - 1))
        {
            var dl2 = new InMemoryDeadLetterOutput();
            await using var resumed = source.CreateReader(Context(dl2));
            resumed.RestorePosition(position);
            var rest = await ReadIds(resumed);
            Assert.Equal(expected.Skip(rowsSoFar), rest);
            Assert.Equal(totalDead - deadSoFar, dl2.Count);
        }
    }

    [Fact]
    public void Configuration_errors_fail_fast()
    {
        Assert.Throws<FileNotFoundException>(() => Source("missing.jsonl"));
        Assert.Throws<FileNotFoundException>(() => Source("*.none"));
        Write("a.jsonl", "{}");
        Assert.Throws<ArgumentException>(() => Source("a.jsonl", batchSize: 0));
        Assert.Throws<ArgumentException>(() => new JsonLinesFileSource("s", Schema(), new JsonLinesSourceOptions
        {
            Path = Path.Combine(_dir.FullName, "a.jsonl"),
            Columns = new Dictionary<string, JsonColumnOptions> { ["nope"] = new(Required: true) },
        }));
    }

    [Fact]
    public async Task A_position_from_another_reader_is_refused()
    {
        Write("a.jsonl", "{\"id\":1}\n");
        Write("b.jsonl", "{\"id\":2}\n");
        var source = Source("*.jsonl");
        await using var r0 = source.CreateReader(Context(new InMemoryDeadLetterOutput(), 0, 2));
        await using var r1 = source.CreateReader(Context(new InMemoryDeadLetterOutput(), 1, 2));
        Assert.Throws<InvalidDataException>(() => r1.RestorePosition(r0.SnapshotPosition()));
        Assert.Throws<InvalidDataException>(() => r1.RestorePosition("not json"u8));
    }
}
