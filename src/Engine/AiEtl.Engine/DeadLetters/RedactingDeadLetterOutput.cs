using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;

namespace AiEtl.Engine.DeadLetters;

/// <summary>
/// Scrubs a spec's secrets from the error text of each dead letter before the wrapped output writes it (a client's
/// error can quote a connection detail). The raw bytes are the record's own and are kept as read.
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
        inner.Write(ReferenceEquals(error, letter.Error) || error == letter.Error ? letter : new DeadLetter
        {
            Source = letter.Source,
            Position = letter.Position,
            ErrorClass = letter.ErrorClass,
            Error = error,
            Raw = letter.Raw,
        });
    }

    public ValueTask FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
