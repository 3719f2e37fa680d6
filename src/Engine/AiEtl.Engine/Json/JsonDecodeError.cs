namespace AiEtl.Engine.Json;

/// <summary>Why a message did not decode.</summary>
public enum JsonErrorKind : byte
{
    None,
    /// <summary>Empty message, not RFC 8259 JSON, top level not an object, or bytes after the value.</summary>
    Syntax,
    /// <summary>Invalid UTF-8, a byte-order mark, or an unpaired surrogate escape.</summary>
    Encoding,
    /// <summary>Message larger than <see cref="JsonRowDecoder.MaxMessageBytes"/> or nested deeper than <see cref="JsonRowDecoder.MaxDepth"/>.</summary>
    Limit,
    /// <summary>The same top-level key twice (compared after unescaping).</summary>
    DuplicateKey,
    /// <summary>A required column is missing or <c>null</c>.</summary>
    MissingRequired,
    /// <summary>The JSON value has the wrong type for the column (e.g. <c>1.0</c> or <c>"1"</c> for an integer).</summary>
    TypeMismatch,
    /// <summary>A number outside the column's range (int32/int64 bounds, float64 overflow, epoch overflow).</summary>
    OutOfRange,
    /// <summary>A timestamp or date string that is malformed or impossible.</summary>
    InvalidTime,
}

/// <summary>
/// A decoding failure: its kind, the byte offset in the message where it was found, the field (column or
/// key) it concerns, and a short description. <see cref="Message"/> formats them (allocates; failure path only).
/// </summary>
public readonly struct JsonDecodeError
{
    public JsonDecodeError(JsonErrorKind kind, int offset, string? field, string detail)
    {
        Kind = kind;
        Offset = offset;
        Field = field;
        Detail = detail;
    }

    public JsonErrorKind Kind { get; }

    /// <summary>Byte offset in the message where the problem was detected.</summary>
    public int Offset { get; }

    /// <summary>Column name or top-level key concerned, when there is one.</summary>
    public string? Field { get; }

    public string Detail { get; }

    /// <summary>Dead-letter error class: <c>decode</c>, <c>schema</c>, <c>overflow</c> or <c>convert</c>.</summary>
    public string ErrorClass => ClassOf(Kind);

    public string Message => Field is null
        ? $"{Detail} at byte {Offset}"
        : $"{Detail} in field '{Field}' at byte {Offset}";

    public static string ClassOf(JsonErrorKind kind) => kind switch
    {
        JsonErrorKind.None => "none",
        JsonErrorKind.MissingRequired or JsonErrorKind.TypeMismatch => "schema",
        JsonErrorKind.OutOfRange => "overflow",
        JsonErrorKind.InvalidTime => "convert",
        _ => "decode",
    };

    public override string ToString() => $"{ErrorClass}/{Kind}: {Message}";
}
