using System.Globalization;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Json;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Json;

internal static class JsonTestSupport
{
    /// <summary>
    /// Every kind once, plus a required id and three epoch timestamp columns.
    /// </summary>
    public static Schema Schema() => new Schema.Builder()
        .Field(ColumnTypes.Field("id", ColumnKind.Int64))
        .Field(ColumnTypes.Field("i", ColumnKind.Int64))
        .Field(ColumnTypes.Field("n", ColumnKind.Int32))
        .Field(ColumnTypes.Field("f", ColumnKind.Float64))
        .Field(ColumnTypes.Field("s", ColumnKind.String))
        .Field(ColumnTypes.Field("b", ColumnKind.Bool))
        .Field(ColumnTypes.Field("t", ColumnKind.Timestamp))
        .Field(ColumnTypes.Field("d", ColumnKind.Date))
        .Field(ColumnTypes.Field("es", ColumnKind.Timestamp))
        .Field(ColumnTypes.Field("ems", ColumnKind.Timestamp))
        .Field(ColumnTypes.Field("eus", ColumnKind.Timestamp))
        .Build();

    public static Dictionary<string, JsonColumnOptions> Options() => new()
    {
        ["id"] = new JsonColumnOptions(Required: true),
        ["es"] = new JsonColumnOptions(TimeFormat: JsonTimeFormat.EpochSeconds),
        ["ems"] = new JsonColumnOptions(TimeFormat: JsonTimeFormat.EpochMillis),
        ["eus"] = new JsonColumnOptions(TimeFormat: JsonTimeFormat.EpochMicros),
    };

    /// <summary>UTF-8 of <paramref name="text"/>, where <c>%HH</c> stands for the raw byte 0xHH.</summary>
    public static byte[] Bytes(string text)
    {
        var outBytes = new List<byte>(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            var k = text.IndexOf('%', i);
            var run = k < 0 ? text[i..] : text[i..k];
            outBytes.AddRange(Encoding.UTF8.GetBytes(run));
            if (k < 0) break;
            outBytes.Add(byte.Parse(text.AsSpan(k + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            i = k + 3;
        }
        return [.. outBytes];
    }

    public static string FormatMicros(long micros) =>
        DateTime.UnixEpoch.AddTicks(micros * 10).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    public static string FormatDays(int days) =>
        DateTime.UnixEpoch.AddDays(days).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>The value of row <paramref name="row"/> of a column as a plain .NET value (null for NULL).</summary>
    public static object? Value(IArrowArray column, int row)
    {
        if (column.IsNull(row)) return null;
        return column switch
        {
            Int64Array a => a.GetValue(row)!.Value,
            Int32Array a => a.GetValue(row)!.Value,
            DoubleArray a => a.GetValue(row)!.Value,
            StringArray a => a.GetString(row),
            BooleanArray a => a.GetValue(row)!.Value,
            TimestampArray a => FormatMicros(a.GetValue(row)!.Value),
            Date32Array a => FormatDays(a.GetValue(row)!.Value),
            _ => throw new NotSupportedException(column.GetType().Name),
        };
    }
}
