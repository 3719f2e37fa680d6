using AiEtl.Engine.Columns;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using AiEtl.Engine.Sql;
using Apache.Arrow;

namespace AiEtl.Engine.Planning;

/// <summary>A problem found while turning a valid spec into a plan (unknown column in an expression, …).</summary>
public sealed record PlanError(string Path, string Message)
{
    public string Format(string file) => $"{file}: {Path}: {Message}";
}

public sealed class PlanException(IReadOnlyList<PlanError> errors)
    : Exception(string.Join(Environment.NewLine, errors.Select(e => $"{e.Path}: {e.Message}")))
{
    public IReadOnlyList<PlanError> Errors { get; } = errors;
}

/// <summary>A planned pipeline: the logical steps (for explain) and the physical job graph.</summary>
public sealed class PipelinePlan
{
    public required PipelineSpec Spec { get; init; }
    public required JobGraph Graph { get; init; }
    public required IReadOnlyList<string> Logical { get; init; }

    public string Explain()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append("logical plan for ").Append(Spec.Name).Append('\n');
        foreach (var l in Logical) sb.Append("  ").Append(l).Append('\n');
        sb.Append('\n').Append(Graph.Explain());
        return sb.ToString();
    }
}

/// <summary>Turns a validated spec into a job graph: binds expressions, fuses stateless steps, keys stateful ones.</summary>
public static class Planner
{
    public static PipelinePlan Plan(PipelineSpec spec, ConnectorRegistry connectors, int? parallelismOverride = null)
    {
        var errors = new List<PlanError>();
        var parallelism = Math.Max(1, parallelismOverride ?? spec.EffectiveParallelism);
        if (spec.Sources.Count != 1)
            throw new PlanException([new PlanError("sources", "several sources need an SQL transform with joins or unions, which the engine does not support yet")]);
        var sourceSpec = spec.Sources[0];
        var source = connectors.CreateSource(sourceSpec, spec);
        if (sourceSpec.EventTime is { } declaredTime)
        {
            // A schema the connector found itself (a schema registry, a database catalog) is checked only now.
            var at = source.Schema.GetFieldIndex(declaredTime.Column);
            if (at < 0)
                throw new PlanException([new PlanError($"sources.{sourceSpec.Name}.event_time.column",
                    $"column '{declaredTime.Column}' is not in the source schema ({string.Join(", ", source.Schema.FieldsList.Select(f => f.Name))})")]);
            if (!ColumnTypes.TryFromArrow(source.Schema.FieldsList[at].DataType, out var timeKind) || timeKind != ColumnKind.Timestamp)
                throw new PlanException([new PlanError($"sources.{sourceSpec.Name}.event_time.column",
                    $"the event-time column must be a timestamp; '{declaredTime.Column}' is {source.Schema.FieldsList[at].DataType.Name}")]);
        }
        var logical = new List<string> { $"source {sourceSpec.Name}: {sourceSpec.Connector.Describe()} -> ({string.Join(", ", source.Schema.FieldsList.Select(f => $"{f.Name} {f.DataType.Name}"))})" };

        // Operators as factories (one instance per task), in order; stateful ones start a new keyed vertex.
        var segments = new List<Segment> { new(null) };
        var schema = source.Schema;
        switch (spec.Transform)
        {
            case null:
                break;
            case SqlTransformSpec sql:
                try
                {
                    schema = AddSql(sql, sourceSpec, source, segments, logical);
                }
                catch (SqlException e)
                {
                    errors.Add(new PlanError("transform", e.Describe()));
                }
                break;
            case OperatorChainSpec chain:
                for (var i = 0; i < chain.Steps.Count; i++)
                {
                    var path = $"transform[{i}]";
                    try
                    {
                        schema = AddStep(chain.Steps, ref i, schema, segments, logical, path);
                    }
                    catch (ExpressionException e)
                    {
                        errors.Add(new PlanError(path, $"{e.Message} (at character {e.Position + 1})"));
                        break;
                    }
                    catch (ArgumentException e)
                    {
                        errors.Add(new PlanError(path, e.Message));
                        break;
                    }
                }
                break;
        }
        if (errors.Count > 0) throw new PlanException(errors);

        var sinks = spec.Sinks.Select(s => (spec: s, sink: connectors.CreateSink(s, spec))).ToList();
        foreach (var (s, sink) in sinks)
        {
            foreach (var problem in sink.Validate(schema)) errors.Add(new PlanError($"sinks.{s.Name}", problem));
            logical.Add($"sink {s.Name}: {s.Connector.Describe()}");
        }
        if (errors.Count > 0) throw new PlanException(errors);

        var graph = new JobGraph { Name = spec.Name };
        JobVertex? previous = null;
        var inSchema = source.Schema;
        for (var si = 0; si < segments.Count; si++)
        {
            var seg = segments[si];
            var ops = seg.Factories;
            var segIn = inSchema;
            var outSchema = seg.OutputSchema ?? inSchema;
            var lastSegment = si == segments.Count - 1;
            // The last segment also carries the sink when there is exactly one sink with the same parallelism.
            var p = previous == null ? Math.Min(parallelism, source.MaxParallelism) : parallelism;
            var fuseSink = lastSegment && sinks.Count == 1 && Math.Min(parallelism, sinks[0].sink.MaxParallelism) == p;
            var sinkForFuse = fuseSink ? sinks[0] : default;
            var v = graph.Add(new JobVertex
            {
                Name = previous == null ? $"source:{sourceSpec.Name}" : $"keyed:{seg.KeyName}",
                Parallelism = previous != null && seg.KeyIndexes.Count == 0 ? 1 : p,
                Source = previous == null ? source : null,
                EventTime = previous == null && sourceSpec.EventTime is { } et ? new EventTimeSettings(et.Column, et.MaxOutOfOrderness ?? TimeSpan.Zero, et.IdleTimeout) : null,
                OutputSchema = outSchema,
                IsSink = fuseSink,
                OperatorDescriptions = [.. seg.Descriptions, .. fuseSink ? new[] { $"sink {sinkForFuse.spec.Name} ({sinkForFuse.sink.GetType().Name})" } : []],
                CreateChain = _ =>
                {
                    var list = ops.Select(f => f()).ToList();
                    if (fuseSink) list.Add(new SinkOperator(sinkForFuse.sink, outSchema));
                    return list;
                },
            });
            if (previous != null) JobGraph.Connect(previous, v, Partitioning.Hash, seg.KeyIndexes);
            previous = v;
            inSchema = outSchema;
            if (lastSegment && !fuseSink)
            {
                foreach (var (s, sink) in sinks)
                {
                    var sv = graph.Add(new JobVertex
                    {
                        Name = $"sink:{s.Name}",
                        Parallelism = Math.Min(parallelism, sink.MaxParallelism),
                        OutputSchema = outSchema,
                        IsSink = true,
                        OperatorDescriptions = [$"sink {s.Name} ({sink.GetType().Name})"],
                        CreateChain = _ => [new SinkOperator(sink, outSchema)],
                    });
                    JobGraph.Connect(v, sv, Partitioning.Forward);
                }
            }
        }
        return new PipelinePlan { Spec = spec, Graph = graph, Logical = logical };
    }

    /// <summary>
    /// Checks an SQL transform against the sources' declared schemas without creating any connector (for
    /// <c>aietl validate</c>); the same errors <see cref="Plan"/> reports. Empty when there is nothing to report.
    /// </summary>
    public static IReadOnlyList<PlanError> CheckSql(PipelineSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Transform is not SqlTransformSpec sql || spec.Sources.Count != 1) return [];
        var s = spec.Sources[0];
        var schema = new Schema(s.Schema.Select(c => ColumnTypes.Field(c.Name, c.Type)), null);
        // Bounded as the built-in connectors are: files end, a generator ends when it has a row count.
        var bounded = s.Connector switch
        {
            FileSourceSpec => true,
            GeneratorSourceSpec g => g.Rows > 0,
            NexmarkSourceSpec n => n.Events > 0,
            _ => false,
        };
        var table = new SqlSource(s.Name, schema, bounded, s.EventTime?.Column, (s.EventTime?.AllowedLateness ?? TimeSpan.Zero).Ticks / 10);
        try
        {
            SqlCompiler.Compile(sql.Sql, table);
            return [];
        }
        catch (SqlException e)
        {
            return [new PlanError("transform", e.Describe())];
        }
    }

    private sealed class Segment(string? keyName)
    {
        public string? KeyName { get; } = keyName;
        /// <summary>Hash-partitioning key columns in the previous segment's output (empty: everything to one instance).</summary>
        public IReadOnlyList<int> KeyIndexes { get; init; } = [];
        public List<Func<Operator>> Factories { get; } = [];
        public List<string> Descriptions { get; } = [];
        public Schema? OutputSchema { get; set; }
    }

    private static Schema AddStep(IReadOnlyList<TransformStep> steps, ref int i, Schema schema, List<Segment> segments, List<string> logical, string path)
    {
        var seg = segments[^1];
        switch (steps[i])
        {
            case FilterStep f:
            {
                var binder = new Binder(schema);
                var pred = binder.Bind(ExprParser.Parse(f.Predicate));
                if (pred.Kind != ColumnKind.Bool) throw new ExpressionException($"filter must be a boolean expression, not {ColumnTypes.Name(pred.Kind)}", 0);
                // A select right after a filter runs in the same pass (selection vector, then gather).
                List<(string, VExpr)>? projections = null;
                if (i + 1 < steps.Count && steps[i + 1] is SelectStep sel)
                {
                    projections = BindSelect(sel, binder, $"transform[{i + 1}]");
                    logical.Add($"filter {pred.Describe()}");
                    logical.Add($"select {string.Join(", ", projections.Select(p => p.Item1))}");
                    i++;
                }
                else logical.Add($"filter {pred.Describe()}");
                var captured = projections;
                var input = schema;
                var sample = new FilterProjectOperator(input, pred, captured);
                seg.Factories.Add(() => new FilterProjectOperator(input, pred, captured));
                seg.Descriptions.Add(sample.Describe());
                seg.OutputSchema = sample.OutputSchema;
                return sample.OutputSchema;
            }
            case SelectStep s:
            {
                var projections = BindSelect(s, new Binder(schema), path);
                logical.Add($"select {string.Join(", ", projections.Select(p => p.Item1))}");
                var input = schema;
                var sample = new FilterProjectOperator(input, null, projections);
                seg.Factories.Add(() => new FilterProjectOperator(input, null, projections));
                seg.Descriptions.Add(sample.Describe());
                seg.OutputSchema = sample.OutputSchema;
                return sample.OutputSchema;
            }
            case CastStep c:
            {
                var binder = new Binder(schema);
                foreach (var cast in c.Casts)
                    if (schema.GetFieldIndex(cast.Column) < 0) throw new ArgumentException($"cast: unknown column '{cast.Column}' (columns: {string.Join(", ", schema.FieldsList.Select(f => f.Name))})");
                var projections = schema.FieldsList.Select(fl =>
                {
                    var col = binder.Bind(new ColumnRef(fl.Name, 0));
                    var cast = c.Casts.FirstOrDefault(x => x.Column == fl.Name);
                    return (fl.Name, cast == null ? col : (VExpr)new CastVExpr(col, cast.Type));
                }).ToList();
                logical.Add("cast " + string.Join(", ", c.Casts.Select(x => $"{x.Column} AS {ColumnTypes.Name(x.Type)}")));
                var input = schema;
                var sample = new FilterProjectOperator(input, null, projections);
                seg.Factories.Add(() => new FilterProjectOperator(input, null, projections));
                seg.Descriptions.Add(sample.Describe());
                seg.OutputSchema = sample.OutputSchema;
                return sample.OutputSchema;
            }
            case RenameStep r:
            {
                var map = r.Renames.ToDictionary(x => x.From, x => x.To, StringComparer.Ordinal);
                var input = schema;
                var sample = new RenameOperator(input, map);
                seg.Factories.Add(() => new RenameOperator(input, map));
                seg.Descriptions.Add(sample.Describe());
                logical.Add(sample.Describe());
                seg.OutputSchema = sample.OutputSchema;
                return sample.OutputSchema;
            }
            case RunningCountStep rc:
            {
                var input = schema;
                var sample = new RunningCountOperator(input, rc.Key, rc.As);
                var keyed = new Segment(rc.Key) { KeyIndexes = [sample.KeyIndex] };
                keyed.Factories.Add(() => new RunningCountOperator(input, rc.Key, rc.As));
                keyed.Descriptions.Add(sample.Describe());
                keyed.OutputSchema = sample.OutputSchema;
                segments.Add(keyed);
                logical.Add(sample.Describe());
                return sample.OutputSchema;
            }
            default:
                throw new ArgumentException($"operator '{steps[i].Operator}' is not supported by the planner");
        }
    }

    /// <summary>
    /// Compiles the SQL transform onto the engine's operators: one filter+project pass fused into the source's
    /// vertex, then for an aggregating query a hash edge on the group keys into a keyed vertex running the window
    /// aggregate and the HAVING / select-list pass.
    /// </summary>
    private static Schema AddSql(SqlTransformSpec sql, SourceSpec sourceSpec, ISource source, List<Segment> segments, List<string> logical)
    {
        var et = sourceSpec.EventTime;
        var table = new SqlSource(sourceSpec.Name, source.Schema, source.IsBounded, et?.Column, (et?.AllowedLateness ?? TimeSpan.Zero).Ticks / 10);
        var plan = SqlCompiler.Compile(sql.Sql, table);
        logical.Add("sql:");
        foreach (var line in plan.Logical.Lines()) logical.Add("  " + line);

        var first = segments[^1];
        if (plan.CreatePreOperator() is { } pre)
        {
            first.Factories.Add(() => plan.CreatePreOperator()!);
            first.Descriptions.Add(pre.Describe());
            first.OutputSchema = pre.OutputSchema;
        }
        if (plan.Aggregation is not { } agg) return plan.OutputSchema;

        var preSchema = plan.PreSchema;
        var keyName = agg.KeyColumns.Count == 0 ? "all" : string.Join(",", agg.KeyColumns.Select(k => preSchema.FieldsList[k].Name));
        var keyed = new Segment(keyName) { KeyIndexes = agg.KeyColumns, OutputSchema = plan.OutputSchema };
        var window = plan.CreateAggregateOperator();
        keyed.Factories.Add(plan.CreateAggregateOperator);
        // The operator's own description when it has one; else the logical aggregate's.
        var aggregateNode = Enumerable.Empty<LogicalPlan>().Append(plan.Logical).SelectMany(Chain).OfType<LogicalAggregate>().First();
        keyed.Descriptions.Add(window.Describe() != window.Name ? window.Describe() : $"{window.Name} {aggregateNode.Describe()["Aggregate ".Length..]}");
        if (plan.CreatePostOperator() is { } post)
        {
            keyed.Factories.Add(() => plan.CreatePostOperator()!);
            keyed.Descriptions.Add(post.Describe());
        }
        segments.Add(keyed);
        return plan.OutputSchema;
    }

    private static IEnumerable<LogicalPlan> Chain(LogicalPlan plan)
    {
        for (LogicalPlan? p = plan; p != null; p = p.Input) yield return p;
    }

    private static List<(string, VExpr)> BindSelect(SelectStep s, Binder binder, string path)
    {
        var result = new List<(string, VExpr)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var k = 0; k < s.Expressions.Count; k++)
        {
            NamedExpr named;
            try
            {
                named = ExprParser.ParseNamed(s.Expressions[k]);
            }
            catch (ExpressionException e)
            {
                throw new ExpressionException($"{path}.select[{k}]: {e.Message}", e.Position);
            }
            var name = named.Alias ?? (named.Expr is ColumnRef c ? c.Name : null)
                ?? throw new ExpressionException($"{path}.select[{k}]: name the computed column with AS (e.g. `{s.Expressions[k]} AS total`)", 0);
            if (!names.Add(name)) throw new ExpressionException($"{path}.select[{k}]: duplicate output column '{name}'", 0);
            VExpr bound;
            try
            {
                bound = binder.Bind(named.Expr);
            }
            catch (ExpressionException e)
            {
                throw new ExpressionException($"{path}.select[{k}]: {e.Message}", e.Position);
            }
            if (named.Expr is ColumnRef && named.Alias == null) name = ((ColumnVExpr)bound).Name;
            result.Add((name, bound));
        }
        return result;
    }

}
