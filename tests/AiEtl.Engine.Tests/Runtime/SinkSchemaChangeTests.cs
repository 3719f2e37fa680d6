using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors.Files;
using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Runtime;

/// <summary>A batch whose schema differs from the sink's input reaches only sinks that accept schema changes.</summary>
public sealed class SinkSchemaChangeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-schema-change").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Batch Rows(Schema schema, params object[][] rows)
    {
        using var b = new BatchBuilder(schema);
        foreach (var row in rows)
        {
            for (var c = 0; c < row.Length; c++)
            {
                if (row[c] is long l) b[c].AppendInt64(l);
                else b[c].AppendString((string)row[c]);
            }
        }
        return b.Build();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static OperatorContext Context()
    {
        var metrics = new EngineMetrics("t");
        return new OperatorContext { Task = new TaskInfo { Pipeline = "t", Vertex = "sink", Index = 0, Parallelism = 1 }, Metrics = metrics, DeadLetters = new InMemoryDeadLetterOutput() };
    }

    private static readonly Schema V1 = new([ColumnTypes.Field("id", ColumnKind.Int64), ColumnTypes.Field("name", ColumnKind.String)], null);
    private static readonly Schema V2 = new([ColumnTypes.Field("id", ColumnKind.Int64), ColumnTypes.Field("name", ColumnKind.String), ColumnTypes.Field("extra", ColumnKind.String)], null);

    [Fact]
    public async Task Json_lines_sink_writes_each_batch_with_its_own_keys()
    {
        var path = Path.Combine(_dir, "out.jsonl");
        var op = new SinkOperator(new JsonLinesFileSink(new JsonLinesSinkOptions { Path = path }), V1);
        await op.OpenAsync(Context(), null, Ct);
        await op.ProcessAsync(Rows(V1, [1L, "a"]), null!, Ct);
        await op.ProcessAsync(Rows(V2, [2L, "b", "x"]), null!, Ct);
        await op.SnapshotAsync(1, Ct);
        await op.CloseAsync();
        Assert.Equal(["{\"id\":1,\"name\":\"a\"}", "{\"id\":2,\"name\":\"b\",\"extra\":\"x\"}"], File.ReadAllLines(path));
    }

    [Fact]
    public async Task Csv_sink_refuses_a_changed_schema_with_both_column_lists()
    {
        var op = new SinkOperator(new CsvFileSink(new CsvSinkOptions { Path = Path.Combine(_dir, "out.csv") }), V1);
        await op.OpenAsync(Context(), null, Ct);
        await op.ProcessAsync(Rows(V1, [1L, "a"]), null!, Ct);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await op.ProcessAsync(Rows(V2, [2L, "b", "x"]), null!, Ct));
        Assert.Contains("cannot take a batch whose schema changed", e.Message, StringComparison.Ordinal);
        Assert.Contains("extra utf8", e.Message, StringComparison.Ordinal);
        await op.CloseAsync();
    }

    [Fact]
    public async Task A_new_schema_object_with_the_same_columns_is_accepted_everywhere()
    {
        var op = new SinkOperator(new CsvFileSink(new CsvSinkOptions { Path = Path.Combine(_dir, "same.csv") }), V1);
        await op.OpenAsync(Context(), null, Ct);
        var again = new Schema([ColumnTypes.Field("id", ColumnKind.Int64), ColumnTypes.Field("name", ColumnKind.String)], null);
        await op.ProcessAsync(Rows(again, [1L, "a"]), null!, Ct);
        await op.CloseAsync();
    }
}
