using AiEtl.Engine.Columns;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Runtime;

public sealed class RunningCountOperatorTests
{
    private sealed class Collect : AiEtl.Engine.Runtime.IOutput
    {
        public List<object?[]> Rows { get; } = [];

        public ValueTask EmitAsync(Batch batch, CancellationToken ct)
        {
            Rows.AddRange(Batches.Rows(batch));
            batch.Dispose();
            return default;
        }
    }

    [Fact]
    public async Task String_keys_count_across_batches_and_survive_a_snapshot()
    {
        var schema = new Schema.Builder().Field(ColumnTypes.Field("k", ColumnKind.String)).Build();
        var op = new RunningCountOperator(schema, "k", "seq");
        var output = new Collect();
        var ct = TestContext.Current.CancellationToken;
        var longKey = new string('é', 300);
        await op.ProcessAsync(Batches.Make(schema, ["a"], ["é"], [null], ["a"], [""], [longKey]), output, ct);
        var state = await op.SnapshotAsync(1, ct);
        var restored = new RunningCountOperator(schema, "k", "seq");
        await restored.OpenAsync(null!, state, ct);
        await restored.ProcessAsync(Batches.Make(schema, ["a"], [longKey], [null], ["é"], [""], ["b"]), output, ct);
        Assert.Equal([1L, 1L, 1L, 2L, 1L, 1L, 3L, 2L, 2L, 2L, 2L, 1L], output.Rows.Select(r => r[1]));
    }
}
