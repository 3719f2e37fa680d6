using AiEtl.Engine.Columns;

namespace AiEtl.Engine.Spec;

/// <summary>
/// The fixed schemas of the built-in generators. A generator source takes no <c>schema:</c>; these are
/// the columns it produces (the generator connector must produce exactly these).
/// </summary>
public static class GeneratorSchemas
{
    /// <summary>Orders: <c>status</c> is a small integer code (0–9), <c>ts</c> the order time.</summary>
    public static readonly IReadOnlyList<ColumnSpec> Orders =
    [
        new("order_id", ColumnKind.Int64, Required: true),
        new("customer_id", ColumnKind.Int64, Required: true),
        new("product_id", ColumnKind.Int64, Required: true),
        new("qty", ColumnKind.Int32, Required: true),
        new("amount", ColumnKind.Float64, Required: true),
        new("status", ColumnKind.Int32, Required: true),
        new("country", ColumnKind.String),
        new("ts", ColumnKind.Timestamp, Required: true),
    ];

    /// <summary>Clickstream: page views and clicks of users in sessions.</summary>
    public static readonly IReadOnlyList<ColumnSpec> Clickstream =
    [
        new("event_id", ColumnKind.Int64, Required: true),
        new("user_id", ColumnKind.Int64, Required: true),
        new("session_id", ColumnKind.Int64, Required: true),
        new("event_type", ColumnKind.String, Required: true),
        new("url", ColumnKind.String, Required: true),
        new("referrer", ColumnKind.String),
        new("duration_ms", ColumnKind.Int32),
        new("ts", ColumnKind.Timestamp, Required: true),
    ];

    public static IReadOnlyList<ColumnSpec> For(GeneratorKind kind) => kind switch
    {
        GeneratorKind.Orders => Orders,
        GeneratorKind.Clickstream => Clickstream,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
