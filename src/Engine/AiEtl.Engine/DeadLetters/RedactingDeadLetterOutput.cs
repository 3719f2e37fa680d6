using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;

namespace AiEtl.Engine.DeadLetters;

/// <summary>
/// Scrubs a spec's secrets from the error text and position of each dead letter before the wrapped output writes it
/// (a client's error can quote a connection detail). The raw bytes are the record's own and are kept as read.
/// </summary>
public sealed class RedactingDeadLetterOutput(IDeadLetterOutput inner, SecretRedactor secrets) : IDeadLetterOutput
{
    /// <summary>The output that writes the letters.</summary>
    public IDeadLetterOutput Inner => inner;

    public long Count => inner.Count;

    public void Write(DeadLetter letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var error = secrets.Redact(letter.Error);
        // A position names a file or topic, which may have come from interpolation.
        var position = letter.Position;
        if (secrets.Count > 0 && position.Any(p => p.Value is string v && secrets.Redact(v) != v))
            position = position.Select(p => p.Value is string v ? new KeyValuePair<string, object>(p.Key, secrets.Redact(v)) : p).ToArray();
        inner.Write(error == letter.Error && ReferenceEquals(position, letter.Position) ? letter : new DeadLetter
        {
            Source = letter.Source,
            Position = position,
            ErrorClass = letter.ErrorClass,
            Error = error,
            Raw = letter.Raw,
        });
    }

    public ValueTask FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
