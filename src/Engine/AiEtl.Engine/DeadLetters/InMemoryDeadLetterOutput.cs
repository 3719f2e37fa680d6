using AiEtl.Engine.Runtime;

namespace AiEtl.Engine.DeadLetters;

/// <summary>Keeps dead letters in memory (tests, previews). Thread-safe.</summary>
public sealed class InMemoryDeadLetterOutput : IDeadLetterOutput
{
    private readonly List<DeadLetter> _letters = [];
    private readonly Lock _lock = new();
    private int _flushes;

    public long Count
    {
        get
        {
            lock (_lock) return _letters.Count;
        }
    }

    /// <summary>How many times <see cref="FlushAsync"/> was called.</summary>
    public int Flushes => Volatile.Read(ref _flushes);

    /// <summary>A snapshot of the letters written so far, in write order.</summary>
    public IReadOnlyList<DeadLetter> Letters
    {
        get
        {
            lock (_lock) return [.. _letters];
        }
    }

    public void Write(DeadLetter letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        lock (_lock) _letters.Add(letter);
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Interlocked.Increment(ref _flushes);
        return default;
    }

    public ValueTask DisposeAsync() => default;
}
