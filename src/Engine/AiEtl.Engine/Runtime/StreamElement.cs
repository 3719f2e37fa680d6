namespace AiEtl.Engine.Runtime;

internal enum ElementKind : byte
{
    Data,
    Watermark,
    Barrier,
    End,
    /// <summary>Mailbox message: a checkpoint completed (not subject to credit or alignment).</summary>
    CheckpointComplete,
    /// <summary>Mailbox message: the job is finished, close.</summary>
    Close,
    /// <summary>Mailbox message: a background pre-commit of this task failed (the task rethrows its failure).</summary>
    AckFailed,
}

/// <summary>What travels on an edge: data and in-band signals in one queue.</summary>
internal readonly struct StreamElement
{
    public readonly ElementKind Kind;
    public readonly int Channel;
    public readonly Batch? Batch;
    public readonly long Value;

    private StreamElement(ElementKind kind, int channel, Batch? batch, long value)
    {
        Kind = kind;
        Channel = channel;
        Batch = batch;
        Value = value;
    }

    /// <summary>A channel that has no event-time progress for a while (excluded from the minimum).</summary>
    public const long IdleWatermark = long.MinValue + 1;

    public static StreamElement Data(int channel, Batch batch) => new(ElementKind.Data, channel, batch, 0);
    public static StreamElement Watermark(int channel, long micros) => new(ElementKind.Watermark, channel, null, micros);
    public static StreamElement Barrier(int channel, long checkpointId) => new(ElementKind.Barrier, channel, null, checkpointId);
    public static StreamElement End(int channel) => new(ElementKind.End, channel, null, 0);
    public static StreamElement Complete(long checkpointId) => new(ElementKind.CheckpointComplete, -1, null, checkpointId);
    public static StreamElement CloseTask() => new(ElementKind.Close, -1, null, 0);
    public static StreamElement AckFailed(long checkpointId) => new(ElementKind.AckFailed, -1, null, checkpointId);

    public StreamElement WithChannel(int channel) => new(Kind, channel, Batch, Value);
}
