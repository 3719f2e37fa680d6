using System.Collections.Concurrent;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors.Memory;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.Engine.Sql;
using AiEtl.Engine.Tests.Runtime;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Sql;

/// <summary>A source spec that hands the planner batches held in memory.</summary>
public sealed record MemorySourceSpec(Schema Schema, IReadOnlyList<Batch> Batches) : SourceConnectorSpec
{
    public override string Kind => "memory";
    public override string Describe() => "memory";
}

/// <summary>A sink spec whose sink keeps every row it receives.</summary>
public sealed record CollectSinkSpec(RowCollectingSink Sink) : SinkConnectorSpec
{
    public override string Kind => "collect";
    public override string Describe() => "collect";
}

/// <summary>Keeps the rows written to it (as CLR values, see <see cref="Batches.Rows"/>) and the schema it was given.</summary>
public sealed class RowCollectingSink : ISink
{
    public ConcurrentQueue<object?[]> Rows { get; } = new();
    public Schema? Schema { get; private set; }
    public string Name => "collect";
    public int MaxParallelism => int.MaxValue;

    public ISinkWriter CreateWriter(Schema input, ConnectorContext context)
    {
        Schema = input;
        return new Writer(this);
    }

    private sealed class Writer(RowCollectingSink sink) : ISinkWriter
    {
        public ValueTask OpenAsync(byte[]? restoredState, CancellationToken ct) => default;

        public ValueTask WriteAsync(Batch batch, CancellationToken ct)
        {
            foreach (var row in Batches.Rows(batch)) sink.Rows.Enqueue(row);
            return default;
        }

        public ValueTask<byte[]?> PreCommitAsync(long checkpointId, CancellationToken ct) => ValueTask.FromResult<byte[]?>(null);
        public ValueTask CommitAsync(long checkpointId, CancellationToken ct) => default;
        public ValueTask DisposeAsync() => default;
    }
}

public static class SqlTestSupport
{
    /// <summary>The table most SQL tests read: every column type, nullable.</summary>
    public static Schema OrdersSchema { get; } = new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64))
        .Field(ColumnTypes.Field("customer", ColumnKind.Int64))
        .Field(ColumnTypes.Field("status", ColumnKind.Int32))
        .Field(ColumnTypes.Field("amount", ColumnKind.Float64))
        .Field(ColumnTypes.Field("qty", ColumnKind.Int64))
        .Field(ColumnTypes.Field("name", ColumnKind.String))
        .Field(ColumnTypes.Field("ts", ColumnKind.Timestamp))
        .Field(ColumnTypes.Field("day", ColumnKind.Date))
        .Field(ColumnTypes.Field("paid", ColumnKind.Bool))
        .Build();

    public static SqlSource Orders(bool bounded = true, string? eventTime = null, long latenessMicros = 0) =>
        new("orders", OrdersSchema, bounded, eventTime, latenessMicros);

    public static SqlPlan Compile(string sql, SqlSource? source = null) => SqlCompiler.Compile(sql, source ?? Orders());

    /// <summary>Asserts that compiling fails at this line and column with a message containing the fragment.</summary>
    public static SqlException AssertError(string sql, int line, int column, string fragment, SqlSource? source = null)
    {
        var e = Assert.Throws<SqlException>(() => Compile(sql, source));
        Assert.True((line, column) == (e.Line, e.Column) && e.Message.Contains(fragment, StringComparison.Ordinal),
            $"expected {line}:{column} '{fragment}', got {e.Line}:{e.Column} '{e.Message}'");
        return e;
    }

    private static readonly string[] Names = ["alpha", "beta", "café", "Zoë", "naïve", "ÅSA", "", "x y", "O'Brien", "mañana", "中文", "Straße"];

    /// <summary>Deterministic rows with NULLs in every nullable column, in batches.</summary>
    public static List<Batch> OrdersData(int rows = 3000, int batchSize = 400, int seed = 7)
    {
        var rnd = new Random(seed);
        var start = new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var list = new List<Batch>();
        var pending = new List<object?[]>();
        for (var i = 0; i < rows; i++)
        {
            object? Maybe(object v) => rnd.Next(10) == 0 ? null : v;
            pending.Add(
            [
                (long)i,
                Maybe((long)rnd.Next(0, 40)),
                Maybe(rnd.Next(0, 10)),
                Maybe(Math.Round(rnd.NextDouble() * 200 - 20, 2)),
                Maybe((long)rnd.Next(-20, 21)),
                Maybe(Names[rnd.Next(Names.Length)]),
                Maybe(start.AddSeconds(rnd.Next(0, 2 * 86400)).AddTicks(rnd.Next(0, 1_000_000) * 10L)),
                Maybe(DateOnly.FromDateTime(start).AddDays(rnd.Next(-3, 4))),
                Maybe(rnd.Next(2) == 0),
            ]);
            if (pending.Count == batchSize)
            {
                list.Add(Batches.Make(OrdersSchema, [.. pending]));
                pending.Clear();
            }
        }
        if (pending.Count > 0) list.Add(Batches.Make(OrdersSchema, [.. pending]));
        return list;
    }

    /// <summary>A pipeline spec reading <paramref name="batches"/> as the source named <paramref name="table"/>, transformed by SQL.</summary>
    public static PipelineSpec Spec(string sql, IReadOnlyList<Batch> batches, RowCollectingSink sink, int parallelism = 2, string table = "orders", EventTimeSpec? eventTime = null) =>
        new("sql-test", null,
            [new SourceSpec(table, new MemorySourceSpec(OrdersSchema, batches), OrdersSchema.FieldsList.Select(f => new ColumnSpec(f.Name, ColumnTypes.FromArrow(f.DataType))).ToList(), eventTime)],
            new SqlTransformSpec(sql),
            [new SinkSpec("out", new CollectSinkSpec(sink))],
            null, null, null, parallelism);

    public static ConnectorRegistry Registry() => new ConnectorRegistry()
        .AddSource<MemorySourceSpec>((m, s, _) => new InMemorySource(s.Name, m.Schema, m.Batches))
        .AddSink<CollectSinkSpec>((c, _, _) => c.Sink);

    /// <summary>Plans the SQL over the batches, runs it to the end and returns the result rows and schema.</summary>
    public static async Task<(Schema Schema, List<object?[]> Rows, long DeadLetters)> Run(string sql, IReadOnlyList<Batch> batches, int parallelism = 2)
    {
        var sink = new RowCollectingSink();
        var plan = Planner.Plan(Spec(sql, batches, sink, parallelism), Registry());
        var dead = new ListDeadLetters();
        using var metrics = new EngineMetrics("sql-test");
        var options = new JobOptions { DeadLetters = dead, Metrics = metrics, Store = new InMemoryCheckpointStore() };
        await new JobRunner(plan.Graph, options).RunAsync(CancellationToken.None, TestContext.Current.CancellationToken);
        return (sink.Schema ?? plan.Graph.Vertices[^1].OutputSchema, sink.Rows.ToList(), dead.Count);
    }
}
