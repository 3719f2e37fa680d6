using AiEtl.Engine.Columns;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

// Compile-only stand-in for the window aggregate operator that is written in parallel: the SQL planner is
// written against exactly this API. This file is deleted when the real operator is merged.

namespace AiEtl.Engine.Operators;

public enum WindowKind { None, Tumble, Hop, Session }   // None = plain GROUP BY (bounded input: results at end of input)

public sealed record WindowSpec(WindowKind Kind, int TimeColumn, long SizeMicros, long SlideMicros, long GapMicros, long AllowedLatenessMicros);

public enum AggregateFunction { CountStar, Count, Sum, Min, Max, Avg, CountDistinct, ApproxCountDistinct }

/// InputColumn: index in the operator's input schema (-1 for count(*)); FilterColumn: index of a bool column (FILTER (WHERE …) precomputed upstream), -1 when none.
public sealed record AggregateSpec(AggregateFunction Function, int InputColumn, string OutputName, int FilterColumn = -1);

public sealed class WindowAggregateOperator : Operator
{
    public WindowAggregateOperator(Schema input, IReadOnlyList<int> keyColumns, WindowSpec window, IReadOnlyList<AggregateSpec> aggregates)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(keyColumns);
        ArgumentNullException.ThrowIfNull(window);
        ArgumentNullException.ThrowIfNull(aggregates);
        var fields = new List<Field>();
        foreach (var k in keyColumns) fields.Add(input.FieldsList[k]);
        if (window.Kind != WindowKind.None)
        {
            fields.Add(ColumnTypes.Field("window_start", ColumnKind.Timestamp));
            fields.Add(ColumnTypes.Field("window_end", ColumnKind.Timestamp));
        }
        foreach (var a in aggregates)
        {
            var kind = a.Function switch
            {
                AggregateFunction.CountStar or AggregateFunction.Count or AggregateFunction.CountDistinct or AggregateFunction.ApproxCountDistinct => ColumnKind.Int64,
                AggregateFunction.Avg => ColumnKind.Float64,
                AggregateFunction.Sum => ColumnTypes.FromArrow(input.FieldsList[a.InputColumn].DataType) == ColumnKind.Float64 ? ColumnKind.Float64 : ColumnKind.Int64,
                _ => ColumnTypes.FromArrow(input.FieldsList[a.InputColumn].DataType),
            };
            fields.Add(ColumnTypes.Field(a.OutputName, kind));
        }
        OutputSchema = new Schema(fields, null);
    }

    public override string Name => "window-aggregate";
    public override Schema OutputSchema { get; }
    public override bool IsStateful => true;

    public override ValueTask ProcessAsync(Batch batch, IOutput output, CancellationToken ct) =>
        throw new NotSupportedException("the window aggregate operator is not merged yet");
}
