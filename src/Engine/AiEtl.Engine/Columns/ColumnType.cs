using Apache.Arrow;
using Apache.Arrow.Types;

namespace AiEtl.Engine.Columns;

/// <summary>The column types the engine handles natively.</summary>
public enum ColumnKind : byte
{
    Bool,
    Int32,
    Int64,
    Float64,
    String,
    /// <summary>Microseconds since the Unix epoch, UTC.</summary>
    Timestamp,
    /// <summary>Days since the Unix epoch.</summary>
    Date,
}

/// <summary>Mapping between spec type names, <see cref="ColumnKind"/> and Arrow types.</summary>
public static class ColumnTypes
{
    public static readonly TimestampType TimestampUtc = new(TimeUnit.Microsecond, "UTC");

    /// <summary>Names accepted in specs, with their kind.</summary>
    public static readonly IReadOnlyDictionary<string, ColumnKind> ByName = new Dictionary<string, ColumnKind>(StringComparer.OrdinalIgnoreCase)
    {
        ["bool"] = ColumnKind.Bool,
        ["boolean"] = ColumnKind.Bool,
        ["int32"] = ColumnKind.Int32,
        ["int"] = ColumnKind.Int32,
        ["integer"] = ColumnKind.Int32,
        ["int64"] = ColumnKind.Int64,
        ["bigint"] = ColumnKind.Int64,
        ["long"] = ColumnKind.Int64,
        ["float64"] = ColumnKind.Float64,
        ["double"] = ColumnKind.Float64,
        ["float"] = ColumnKind.Float64,
        ["string"] = ColumnKind.String,
        ["varchar"] = ColumnKind.String,
        ["text"] = ColumnKind.String,
        ["timestamp"] = ColumnKind.Timestamp,
        ["date"] = ColumnKind.Date,
    };

    public static string Name(ColumnKind kind) => kind switch
    {
        ColumnKind.Bool => "bool",
        ColumnKind.Int32 => "int32",
        ColumnKind.Int64 => "int64",
        ColumnKind.Float64 => "float64",
        ColumnKind.String => "string",
        ColumnKind.Timestamp => "timestamp",
        ColumnKind.Date => "date",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static IArrowType ToArrow(ColumnKind kind) => kind switch
    {
        ColumnKind.Bool => BooleanType.Default,
        ColumnKind.Int32 => Int32Type.Default,
        ColumnKind.Int64 => Int64Type.Default,
        ColumnKind.Float64 => DoubleType.Default,
        ColumnKind.String => StringType.Default,
        ColumnKind.Timestamp => TimestampUtc,
        ColumnKind.Date => Date32Type.Default,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static bool TryFromArrow(IArrowType type, out ColumnKind kind)
    {
        switch (type.TypeId)
        {
            case ArrowTypeId.Boolean: kind = ColumnKind.Bool; return true;
            case ArrowTypeId.Int32: kind = ColumnKind.Int32; return true;
            case ArrowTypeId.Int64: kind = ColumnKind.Int64; return true;
            case ArrowTypeId.Double: kind = ColumnKind.Float64; return true;
            case ArrowTypeId.String: kind = ColumnKind.String; return true;
            case ArrowTypeId.Timestamp when ((TimestampType)type).Unit == TimeUnit.Microsecond: kind = ColumnKind.Timestamp; return true;
            case ArrowTypeId.Date32: kind = ColumnKind.Date; return true;
            default: kind = default; return false;
        }
    }

    public static ColumnKind FromArrow(IArrowType type) =>
        TryFromArrow(type, out var k) ? k : throw new NotSupportedException($"Arrow type {type.Name} is not supported by the engine");

    /// <summary>Fixed width in bytes of one value, or 0 for variable-width and bit-packed kinds.</summary>
    public static int FixedWidth(ColumnKind kind) => kind switch
    {
        ColumnKind.Int32 or ColumnKind.Date => 4,
        ColumnKind.Int64 or ColumnKind.Float64 or ColumnKind.Timestamp => 8,
        _ => 0,
    };

    public static Field Field(string name, ColumnKind kind, bool nullable = true) => new(name, ToArrow(kind), nullable);
}
