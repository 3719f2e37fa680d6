using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Connectors.Files;
using AiEtl.Engine.Connectors.Sinks;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Files;

public sealed class ConsoleAndNullSinkTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Schema Schema = new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64))
        .Field(ColumnTypes.Field("name", ColumnKind.String))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp))
        .Build();

    private static async Task<string> Print(ConsoleSinkOptions options, params object?[][][] batches)
    {
        using var output = new MemoryStream();
        var sink = new ConsoleSink(options, output);
        Assert.Equal(1, sink.MaxParallelism);
        await using (var w = sink.CreateWriter(Schema, Contexts.Create()))
        {
            await w.OpenAsync(null, Ct);
            foreach (var rows in batches)
            {
                using var b = Batches.Make(Schema, rows);
                await w.WriteAsync(b, Ct);
            }
            Assert.Null(await w.PreCommitAsync(1, Ct));
        }
        return Encoding.UTF8.GetString(output.ToArray());
    }

    [Fact]
    public async Task Table_is_aligned_truncates_long_values_and_reports_omitted_rows()
    {
        var text = await Print(new ConsoleSinkOptions { MaxRows = 3 },
            [[1L, "short", 0L], [22L, null, -1L]],
            [[333L, "é" + new string('x', 60) + "\nz", 1_000_000L], [4L, "hidden", 0L]],
            [[5L, "hidden too", 0L]]);
        var narrow = "+----+-------+-----------------------------+\n";
        var wide = "+-----+------------------------------------------+-----------------------------+\n";
        var expected =
            narrow +
            "| id | name  | ts                          |\n" +
            narrow +
            "| 1  | short | 1970-01-01T00:00:00.000000Z |\n" +
            "| 22 | NULL  | 1969-12-31T23:59:59.999999Z |\n" +
            narrow +
            wide +
            "| id  | name                                     | ts                          |\n" +
            wide +
            "| 333 | é" + new string('x', 38) + "… | 1970-01-01T00:00:01.000000Z |\n" +
            wide +
            "(2 more rows not shown; max_rows = 3)\n";
        Assert.Equal(expected, text);
    }

    [Fact]
    public async Task Json_lines_mode_prints_what_the_file_sink_writes()
    {
        var text = await Print(new ConsoleSinkOptions { Format = ConsoleFormat.JsonLines, MaxRows = 0 }, [[1L, "a\"b", 0L], [2L, null, null]]);
        Assert.Equal("{\"id\":1,\"name\":\"a\\\"b\",\"ts\":\"1970-01-01T00:00:00.000000Z\"}\n{\"id\":2,\"name\":null,\"ts\":null}\n", text);
    }

    [Fact]
    public void Console_options_are_validated()
    {
        Assert.Throws<ConnectorConfigException>(() => new ConsoleSink(new ConsoleSinkOptions { MaxRows = -1 }));
    }

    [Fact]
    public async Task Null_sink_counts_rows_across_writers_and_leaves_batches_to_their_owner()
    {
        var sink = new NullSink();
        var writers = new[] { sink.CreateWriter(Schema, Contexts.Create(index: 0, parallelism: 2)), sink.CreateWriter(Schema, Contexts.Create(index: 1, parallelism: 2)) };
        var batch = Batches.Make(Schema, [1L, "a", 0L], [2L, "b", 0L]);
        foreach (var w in writers)
        {
            await w.OpenAsync(null, Ct);
            await w.WriteAsync(batch, Ct);
            Assert.Null(await w.PreCommitAsync(1, Ct));
            await w.DisposeAsync();
        }
        Assert.Equal(4, sink.Rows);
        Assert.Equal(2, sink.Batches);
        batch.Dispose(); // still alive: the sink did not dispose it
        Assert.Throws<InvalidOperationException>(() => batch.Dispose());
    }
}
