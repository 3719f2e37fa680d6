using AiEtl.Engine.Columns;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Tests.Support;

/// <summary>A temporary directory removed with everything in it on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "aietl-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, string content)
    {
        var p = File(name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(p)!);
        System.IO.File.WriteAllText(p, content);
        return p;
    }

    public string WriteBytes(string name, byte[] content)
    {
        var p = File(name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(p)!);
        System.IO.File.WriteAllBytes(p, content);
        return p;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}

public static class Contexts
{
    public static ConnectorContext Create(IDeadLetterOutput? deadLetters = null, int index = 0, int parallelism = 1, string vertex = "test") => new()
    {
        Task = new TaskInfo { Pipeline = "test", Vertex = vertex, Index = index, Parallelism = parallelism },
        DeadLetters = deadLetters ?? new CollectingDeadLetters(),
        Metrics = new EngineMetrics("test"),
    };
}

public static class Batches
{
    /// <summary>Builds a batch from rows of CLR values (null = NULL; DateTime for timestamps, DateOnly for dates).</summary>
    public static Batch Make(Schema schema, params object?[][] rows)
    {
        using var b = new BatchBuilder(schema, Math.Max(rows.Length, 1));
        foreach (var row in rows)
        {
            for (var c = 0; c < schema.FieldsList.Count; c++)
            {
                var col = b[c];
                var v = row[c];
                if (v == null)
                {
                    col.AppendNull();
                    continue;
                }
                switch (col.Kind)
                {
                    case ColumnKind.Bool: col.AppendBool((bool)v); break;
                    case ColumnKind.Int32: col.AppendInt32((int)v); break;
                    case ColumnKind.Int64: col.AppendInt64((long)v); break;
                    case ColumnKind.Float64: col.AppendDouble((double)v); break;
                    case ColumnKind.String: col.AppendString((string)v); break;
                    case ColumnKind.Timestamp: col.AppendInt64(v is long l ? l : Micros((DateTime)v)); break;
                    case ColumnKind.Date: col.AppendInt32(v is int i ? i : ((DateOnly)v).DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber); break;
                }
            }
        }
        return b.Build();
    }

    public static long Micros(DateTime utc) => (utc.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    /// <summary>Rows as CLR values: long, int, double, bool, string, timestamps as long µs, dates as int days.</summary>
    public static List<object?[]> Rows(Batch batch)
    {
        var rows = new List<object?[]>(batch.Length);
        for (var r = 0; r < batch.Length; r++)
        {
            var row = new object?[batch.Data.ColumnCount];
            for (var c = 0; c < row.Length; c++) row[c] = Value(batch.Column(c), r);
            rows.Add(row);
        }
        return rows;
    }

    public static object? Value(IArrowArray a, int r)
    {
        if (a.IsNull(r)) return null;
        return a switch
        {
            Int64Array x => x.GetValue(r),
            Int32Array x => x.GetValue(r),
            DoubleArray x => x.GetValue(r),
            BooleanArray x => x.GetValue(r),
            StringArray x => x.GetString(r),
            TimestampArray x => x.Values[r],
            Date32Array x => x.Values[r],
            _ => throw new NotSupportedException(a.GetType().Name),
        };
    }

    /// <summary>Reads a reader to the end, returning all rows (disposing every batch).</summary>
    public static async Task<List<object?[]>> ReadAll(ISourceReader reader, int maxBatches = int.MaxValue)
    {
        var all = new List<object?[]>();
        for (var i = 0; i < maxBatches; i++)
        {
            using var b = await reader.ReadNextBatchAsync(CancellationToken.None);
            if (b == null) break;
            all.AddRange(Rows(b));
        }
        return all;
    }

    public static string Show(IEnumerable<object?[]> rows) =>
        string.Join("\n", rows.Select(r => string.Join("|", r.Select(v => v switch { null => "∅", double d => d.ToString("R"), _ => v.ToString() }))));
}
