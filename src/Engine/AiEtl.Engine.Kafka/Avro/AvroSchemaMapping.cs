using System.Text;
using System.Text.Json;
using AiEtl.Engine.Columns;
using Apache.Arrow;
using AvroSchema = Avro.Schema;

namespace AiEtl.Engine.Kafka.Avro;

/// <summary>A reader schema a message's writer schema cannot be resolved against, or an Avro schema the engine's columns cannot hold.</summary>
public sealed class AvroSchemaException(string message) : Exception(message)
{
    public AvroSchemaException() : this("invalid Avro schema")
    {
    }

    public AvroSchemaException(string message, Exception inner) : this(message + ": " + inner.Message)
    {
    }
}

/// <summary>
/// The output columns of an Avro-decoding Kafka source: their names, kinds and nullability, plus the default value
/// each one takes when a writer schema lacks its field (from the reader schema's field defaults; null otherwise).
/// </summary>
public sealed class AvroReaderSchema
{
    private AvroReaderSchema(Schema arrow, object?[] defaults, bool[] hasDefault)
    {
        Arrow = arrow;
        Defaults = defaults;
        HasDefault = hasDefault;
    }

    /// <summary>The columns (a non-nullable column is required: a message without a value for it is a dead letter).</summary>
    public Schema Arrow { get; }

    /// <summary>Per column: the default of its reader field (long, double, bool, string, or null for a null default).</summary>
    internal object?[] Defaults { get; }

    internal bool[] HasDefault { get; }

    /// <summary>A declared schema: a writer schema without one of these fields gives NULL (a dead letter for a required column).</summary>
    public static AvroReaderSchema FromDeclared(Schema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var problems = new List<string>();
        foreach (var f in schema.FieldsList)
            if (!ColumnTypes.TryFromArrow(f.DataType, out _)) problems.Add($"column '{f.Name}': Arrow type {f.DataType.Name} is not supported");
        if (problems.Count > 0) throw new AvroSchemaException(string.Join("; ", problems));
        var n = schema.FieldsList.Count;
        return new AvroReaderSchema(schema, new object?[n], new bool[n]);
    }

    /// <summary>
    /// Derives the columns from an Avro record schema (the registry's latest for the subject): one column per field,
    /// nullable when the field is a union with null; field defaults are kept for older writer schemas.
    /// </summary>
    /// <exception cref="AvroSchemaException">Not a record, or a field whose type no engine column holds (record, array, map, decimal, a union of two non-null types).</exception>
    public static AvroReaderSchema FromAvro(string schemaJson)
    {
        AvroSchema parsed;
        try
        {
            parsed = AvroSchema.Parse(schemaJson);
        }
        catch (Exception e) when (e is global::Avro.AvroException or JsonException or Newtonsoft.Json.JsonException or ArgumentException)
        {
            throw new AvroSchemaException("the registry's schema is not valid Avro", e);
        }
        if (parsed is not global::Avro.RecordSchema record)
            throw new AvroSchemaException($"the registry's schema is {parsed.Tag.ToString().ToLowerInvariant()}, not a record: each message must decode to one row of fields");
        var problems = new List<string>();
        var fields = new List<Field>();
        var defaults = new List<object?>();
        var hasDefault = new List<bool>();
        foreach (var f in record.Fields)
        {
            var (schema, nullable) = Unwrap(f.Schema);
            if (schema is null)
            {
                problems.Add($"field '{f.Name}': a union of {Describe(f.Schema)}; a column holds one type (a union of null and one type is a nullable column)");
                continue;
            }
            if (!TryKind(schema, out var kind, out var why))
            {
                problems.Add($"field '{f.Name}': {why}");
                continue;
            }
            fields.Add(ColumnTypes.Field(f.Name, kind, nullable));
            if (f.DefaultValue is { } dv)
            {
                hasDefault.Add(true);
                defaults.Add(DefaultOf(dv, kind, f.Schema, f.Name));
            }
            else
            {
                hasDefault.Add(false);
                defaults.Add(null);
            }
        }
        if (problems.Count > 0) throw new AvroSchemaException(string.Join("; ", problems));
        return new AvroReaderSchema(new Schema(fields, null), defaults.ToArray(), hasDefault.ToArray());
    }

    /// <summary>A union of null and one type gives that type, nullable; other unions give null.</summary>
    internal static (AvroSchema? Schema, bool Nullable) Unwrap(AvroSchema s)
    {
        if (s is not global::Avro.UnionSchema u) return (s, s.Tag == AvroSchema.Type.Null);
        var nonNull = u.Schemas.Where(b => b.Tag != AvroSchema.Type.Null).ToList();
        var hasNull = nonNull.Count < u.Schemas.Count;
        return nonNull.Count == 1 ? (nonNull[0], hasNull) : (null, hasNull);
    }

    internal static string Describe(AvroSchema s) => s switch
    {
        global::Avro.UnionSchema u => "[" + string.Join(", ", u.Schemas.Select(Describe)) + "]",
        global::Avro.LogicalSchema l => $"{l.BaseSchema.Tag.ToString().ToLowerInvariant()} ({l.LogicalTypeName})",
        global::Avro.EnumSchema => "enum",
        global::Avro.RecordSchema r => $"record {r.Name}",
        _ => s.Tag.ToString().ToLowerInvariant(),
    };

    /// <summary>The column kind an Avro type decodes to by default.</summary>
    internal static bool TryKind(AvroSchema s, out ColumnKind kind, out string why)
    {
        why = "";
        kind = default;
        switch (s)
        {
            case global::Avro.LogicalSchema l:
                switch (l.LogicalTypeName)
                {
                    case "timestamp-millis":
                    case "timestamp-micros":
                        kind = ColumnKind.Timestamp;
                        return true;
                    case "date":
                        kind = ColumnKind.Date;
                        return true;
                    case "decimal":
                        why = "decimal values need a decimal column, which the engine does not have yet";
                        return false;
                    default:
                        // Logical types the engine has no column for (uuid, time-*, local-timestamp-*) read as their base type.
                        return TryKind(l.BaseSchema, out kind, out why);
                }
            case global::Avro.RecordSchema r:
                why = $"a nested record ({r.Name}); the engine's columns hold scalars";
                return false;
            case global::Avro.ArraySchema:
                why = "an array; the engine's columns hold scalars";
                return false;
            case global::Avro.MapSchema:
                why = "a map; the engine's columns hold scalars";
                return false;
            case global::Avro.EnumSchema:
                kind = ColumnKind.String;
                return true;
            case global::Avro.FixedSchema:
                kind = ColumnKind.String;
                return true;
        }
        switch (s.Tag)
        {
            case AvroSchema.Type.Boolean: kind = ColumnKind.Bool; return true;
            case AvroSchema.Type.Int: kind = ColumnKind.Int32; return true;
            case AvroSchema.Type.Long: kind = ColumnKind.Int64; return true;
            case AvroSchema.Type.Float:
            case AvroSchema.Type.Double: kind = ColumnKind.Float64; return true;
            case AvroSchema.Type.String:
            case AvroSchema.Type.Bytes: kind = ColumnKind.String; return true;
            case AvroSchema.Type.Null:
                why = "always null; a column needs a type";
                return false;
            default:
                why = $"Avro type {s.Tag} is not supported";
                return false;
        }
    }

    private static object? DefaultOf(Newtonsoft.Json.Linq.JToken dv, ColumnKind kind, AvroSchema fieldSchema, string name)
    {
        if (dv.Type == Newtonsoft.Json.Linq.JTokenType.Null) return null;
        var (schema, _) = Unwrap(fieldSchema);
        try
        {
            return kind switch
            {
                ColumnKind.Bool => (object)(bool)dv,
                ColumnKind.Int32 or ColumnKind.Date => (long)(int)dv,
                ColumnKind.Int64 => (long)dv,
                ColumnKind.Timestamp => schema is global::Avro.LogicalSchema { LogicalTypeName: "timestamp-millis" } ? checked((long)dv * 1000) : (long)dv,
                ColumnKind.Float64 => (double)dv,
                // Avro writes bytes and fixed defaults as ISO-8859-1 text: one char per byte.
                ColumnKind.String when schema?.Tag is AvroSchema.Type.Bytes or AvroSchema.Type.Fixed =>
                    Convert.ToBase64String(((string)dv!).Select(c => (byte)c).ToArray()),
                ColumnKind.String => (string)dv!,
                _ => null,
            };
        }
        catch (Exception e) when (e is InvalidCastException or FormatException or OverflowException or ArgumentException)
        {
            throw new AvroSchemaException($"field '{name}': its default {dv.ToString(Newtonsoft.Json.Formatting.None)} does not fit a {ColumnTypes.Name(kind)} column");
        }
    }

    /// <summary>The default as bytes of its column (strings as UTF-8) for the decoder's fill step.</summary>
    internal static byte[]? Utf8Default(object? v) => v is string s ? Encoding.UTF8.GetBytes(s) : null;
}
