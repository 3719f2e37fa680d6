using AiEtl.Engine.Columns;

namespace AiEtl.Engine.Spec;

/// <summary>
/// The fixed schemas of the built-in generators. A generator source takes no <c>schema:</c>; these are
/// the columns it produces (the generator connector must produce exactly these).
/// </summary>
public static class GeneratorSchemas
{
    /// <summary>Orders: see <see cref="Connectors.Generator.GeneratorSource.SchemaOf"/> (the generator is the one source of truth).</summary>
    public static readonly IReadOnlyList<ColumnSpec> Orders = From(Connectors.Generator.GeneratorKind.Orders);

    /// <summary>Clickstream: page views and clicks of users in sessions.</summary>
    public static readonly IReadOnlyList<ColumnSpec> Clickstream = From(Connectors.Generator.GeneratorKind.Clickstream);

    private static ColumnSpec[] From(Connectors.Generator.GeneratorKind kind) =>
        Connectors.Generator.GeneratorSource.SchemaOf(kind).FieldsList
            .Select(f => new ColumnSpec(f.Name, ColumnTypes.FromArrow(f.DataType), Required: !f.IsNullable))
            .ToArray();

    /// <summary>The Nexmark tables: see <see cref="Connectors.Nexmark.NexmarkSchemas"/>.</summary>
    public static IReadOnlyList<ColumnSpec> For(NexmarkStreamName stream) =>
        Connectors.Nexmark.NexmarkSchemas.For((Connectors.Nexmark.NexmarkStream)(int)stream).FieldsList
            .Select(f => new ColumnSpec(f.Name, ColumnTypes.FromArrow(f.DataType), Required: !f.IsNullable))
            .ToArray();

    public static IReadOnlyList<ColumnSpec> For(GeneratorKind kind) => kind switch
    {
        GeneratorKind.Orders => Orders,
        GeneratorKind.Clickstream => Clickstream,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
