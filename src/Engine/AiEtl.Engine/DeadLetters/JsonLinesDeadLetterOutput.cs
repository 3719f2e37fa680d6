using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using AiEtl.Engine.Runtime;
using Microsoft.Win32.SafeHandles;

namespace AiEtl.Engine.DeadLetters;

/// <summary>
/// Appends dead letters to a JSON-lines file, one object per line:
/// <c>{"pipeline","source","position":{…},"error_class","error","raw_base64","time"}</c> (time in UTC,
/// ISO-8601 with microseconds). Thread-safe; lines are buffered in memory and written in order;
/// <see cref="FlushAsync"/> writes the buffer and fsyncs the file.
/// </summary>
public sealed class JsonLinesDeadLetterOutput : IDeadLetterOutput
{
    private const int WriteThreshold = 256 * 1024;

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    private readonly string _pipeline;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly SafeFileHandle _file;
    private readonly ArrayBufferWriter<byte> _pending = new(64 * 1024);
    private readonly Utf8JsonWriter _json;
    private long _fileOffset;
    private long _count;
    private bool _disposed;

    /// <param name="path">File to append to (created with its directory when missing).</param>
    /// <param name="pipeline">Pipeline name written into every record.</param>
    /// <param name="time">Clock for the <c>time</c> field (defaults to the system clock).</param>
    public JsonLinesDeadLetterOutput(string path, string pipeline, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(pipeline);
        Path = System.IO.Path.GetFullPath(path);
        _pipeline = pipeline;
        _time = time ?? TimeProvider.System;
        var dir = System.IO.Path.GetDirectoryName(Path);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        _file = File.OpenHandle(Path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read);
        _fileOffset = RandomAccess.GetLength(_file);
        _json = new Utf8JsonWriter(_pending, WriterOptions);
    }

    public string Path { get; }

    public long Count => Interlocked.Read(ref _count);

    public void Write(DeadLetter letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var now = _time.GetUtcNow().UtcDateTime;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            WriteRecord(letter, now);
            Interlocked.Increment(ref _count);
            if (_pending.WrittenCount >= WriteThreshold) WritePendingLocked();
        }
    }

    private void WriteRecord(DeadLetter letter, DateTime now)
    {
        var w = _json;
        w.Reset(_pending);
        w.WriteStartObject();
        w.WriteString("pipeline"u8, _pipeline);
        w.WriteString("source"u8, letter.Source);
        w.WriteStartObject("position"u8);
        foreach (var (key, value) in letter.Position)
        {
            w.WritePropertyName(key);
            WriteValue(w, value);
        }
        w.WriteEndObject();
        w.WriteString("error_class"u8, letter.ErrorClass);
        w.WriteString("error"u8, letter.Error);
        w.WriteBase64String("raw_base64"u8, letter.Raw.Span);
        w.WriteString("time"u8, now.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
        w.WriteEndObject();
        w.Flush();
        _pending.Write("\n"u8);
    }

    private static void WriteValue(Utf8JsonWriter w, object? value)
    {
        switch (value)
        {
            case null: w.WriteNullValue(); break;
            case string s: w.WriteStringValue(s); break;
            case long l: w.WriteNumberValue(l); break;
            case int i: w.WriteNumberValue(i); break;
            case ulong u: w.WriteNumberValue(u); break;
            case uint u: w.WriteNumberValue(u); break;
            case short s: w.WriteNumberValue(s); break;
            case ushort s: w.WriteNumberValue(s); break;
            case byte b: w.WriteNumberValue(b); break;
            case double d when double.IsFinite(d): w.WriteNumberValue(d); break;
            case float f when float.IsFinite(f): w.WriteNumberValue(f); break;
            case decimal m: w.WriteNumberValue(m); break;
            case bool b: w.WriteBooleanValue(b); break;
            default: w.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture)); break;
        }
    }

    private void WritePendingLocked()
    {
        if (_pending.WrittenCount == 0) return;
        RandomAccess.Write(_file, _pending.WrittenSpan, _fileOffset);
        _fileOffset += _pending.WrittenCount;
        _pending.ResetWrittenCount();
    }

    /// <summary>Writes everything buffered and fsyncs the file.</summary>
    public ValueTask FlushAsync(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            WritePendingLocked();
            RandomAccess.FlushToDisk(_file);
        }
        return default;
    }

    public ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_disposed) return default;
            try
            {
                WritePendingLocked();
                RandomAccess.FlushToDisk(_file);
            }
            finally
            {
                _disposed = true;
                _json.Dispose();
                _file.Dispose();
            }
        }
        return default;
    }
}
