using AiEtl.Engine.Runtime;

namespace AiEtl.Engine.Tests.Support;

/// <summary>A real dead-letter output that keeps every letter in memory, for assertions.</summary>
public sealed class CollectingDeadLetters : IDeadLetterOutput
{
    private readonly List<DeadLetter> _letters = [];

    public IReadOnlyList<DeadLetter> Letters
    {
        get
        {
            lock (_letters) return [.. _letters];
        }
    }

    public long Count
    {
        get
        {
            lock (_letters) return _letters.Count;
        }
    }

    public int Flushes { get; private set; }

    public void Write(DeadLetter letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        // Keep a copy of the raw bytes: the producer may reuse its buffer after the call.
        var copy = new DeadLetter
        {
            Source = letter.Source,
            Position = [.. letter.Position],
            ErrorClass = letter.ErrorClass,
            Error = letter.Error,
            Raw = letter.Raw.ToArray(),
        };
        lock (_letters) _letters.Add(copy);
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        Flushes++;
        return default;
    }

    public ValueTask DisposeAsync() => default;
}

public static class DeadLetterExtensions
{
    public static object Pos(this DeadLetter letter, string key) =>
        letter.Position.First(kv => kv.Key == key).Value;

    public static string RawText(this DeadLetter letter) => System.Text.Encoding.UTF8.GetString(letter.Raw.Span);
}
