using AiEtl.Engine.Columns;
using Apache.Arrow;

namespace AiEtl.Engine.Postgres;

/// <summary>Reads engine Arrow columns value by value (schema changes and sinks; not a hot path).</summary>
internal static class BatchCopy
{
    /// <summary>Appends every row of <paramref name="from"/> to <paramref name="to"/>, matching columns by name (missing → NULL; int32 → int64 and anything → string convert).</summary>
    public static void Append(Batch from, BatchBuilder to)
    {
        var n = from.Length;
        if (n == 0) return;
        for (var c = 0; c < to.ColumnCount; c++)
        {
            var b = to[c];
            var src = from.Schema.GetFieldIndex(to.Schema.FieldsList[c].Name);
            for (var r = 0; r < n; r++)
            {
                if (src < 0 || from.Column(src).IsNull(r))
                {
                    b.AppendNull();
                    continue;
                }
                var col = from.Column(src);
                switch (b.Kind)
                {
                    case ColumnKind.Int64 when col is Int32Array i32: b.AppendInt64(i32.GetValue(r)!.Value); break;
                    case ColumnKind.Int64 when col is Int64Array i64: b.AppendInt64(i64.GetValue(r)!.Value); break;
                    case ColumnKind.Int32 when col is Int32Array i32: b.AppendInt32(i32.GetValue(r)!.Value); break;
                    case ColumnKind.Float64 when col is DoubleArray d: b.AppendDouble(d.GetValue(r)!.Value); break;
                    case ColumnKind.Bool when col is BooleanArray bo: b.AppendBool(bo.GetValue(r)!.Value); break;
                    case ColumnKind.Timestamp when col is TimestampArray ts: b.AppendInt64(ts.GetValue(r)!.Value); break;
                    case ColumnKind.Date when col is Date32Array d32: b.AppendInt32(d32.GetValue(r)!.Value); break;
                    case ColumnKind.String: b.AppendString(Text(col, r)!); break;
                    default: throw new InvalidOperationException($"cannot move {col.Data.DataType.Name} values into a {ColumnTypes.Name(b.Kind)} column");
                }
            }
        }
    }

    /// <summary>The value as text in the forms the change sinks use; null for NULL.</summary>
    public static string? Text(IArrowArray col, int r)
    {
        if (col.IsNull(r)) return null;
        return col switch
        {
            StringArray s => s.GetString(r),
            Int64Array i => i.GetValue(r)!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Int32Array i => i.GetValue(r)!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
            DoubleArray d => PgTypes.FormatDouble(d.GetValue(r)!.Value),
            BooleanArray b => b.GetValue(r)!.Value ? "true" : "false",
            TimestampArray t => PgTypes.FormatMicros(t.GetValue(r)!.Value),
            Date32Array d => PgTypes.FormatDate(d.GetValue(r)!.Value),
            _ => throw new NotSupportedException($"{col.Data.DataType.Name} values are not supported"),
        };
    }
}
