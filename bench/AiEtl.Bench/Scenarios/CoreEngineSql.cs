using AiEtl.Engine;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors.Memory;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Apache.Arrow;

namespace AiEtl.Bench.Scenarios;

/// <summary>
/// The <c>engine_sql</c> contestant of <c>core</c>: the same query as <see cref="CoreEngine"/>, written in SQL and
/// planned the way a pipeline spec is (<see cref="Planner"/> over a spec with an SQL transform), then run by the
/// same runtime into the same counting null sink. The SQL planner must compile it to the chain's fused
/// filter+project operator in the source's vertex.
/// </summary>
internal static class CoreEngineSql
{
    public const string Sql = "SELECT id, customer_id, amount * qty AS total, ts FROM t WHERE status < 5";

    public static PipelinePlan Plan(IReadOnlyList<Batch> input, int parallelism, CoreEngine.CountingSink sink)
    {
        var schema = CoreData.Schema;
        var spec = new PipelineSpec("core-sql", null,
            [new SourceSpec("t", new BatchesSourceSpec(schema, input), schema.FieldsList.Select(f => new ColumnSpec(f.Name, ColumnTypes.FromArrow(f.DataType))).ToList(), null)],
            new SqlTransformSpec(Sql),
            [new SinkSpec("out", new CountingSinkSpec(sink))],
            null, null, null, parallelism);
        var registry = new ConnectorRegistry()
            .AddSource<BatchesSourceSpec>((m, s, _) => new InMemorySource(s.Name, m.Schema, m.Batches))
            .AddSink<CountingSinkSpec>((c, _, _) => c.Sink);
        return Planner.Plan(spec, registry);
    }

    public static (long Rows, double Checksum) Run(IReadOnlyList<Batch> input, int parallelism)
    {
        var sink = new CoreEngine.CountingSink();
        var plan = Plan(input, parallelism, sink);
        using var metrics = new EngineMetrics("core-sql");
        var options = new JobOptions { DeadLetters = new CoreEngine.NoDeadLetters(), Metrics = metrics };
        new JobRunner(plan.Graph, options).RunAsync(CancellationToken.None, CancellationToken.None).GetAwaiter().GetResult();
        return (Interlocked.Read(ref sink.Rows), sink.Sum);
    }

    private sealed record BatchesSourceSpec(Schema Schema, IReadOnlyList<Batch> Batches) : SourceConnectorSpec
    {
        public override string Kind => "memory";
        public override string Describe() => "memory";
    }

    private sealed record CountingSinkSpec(CoreEngine.CountingSink Sink) : SinkConnectorSpec
    {
        public override string Kind => "null";
        public override string Describe() => "null";
    }
}
