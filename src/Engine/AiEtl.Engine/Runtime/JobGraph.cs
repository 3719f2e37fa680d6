using Apache.Arrow;

namespace AiEtl.Engine.Runtime;

/// <summary>How rows move from one vertex's instances to the next's.</summary>
public enum Partitioning
{
    /// <summary>Instance i feeds instance i (same parallelism); the cheapest edge.</summary>
    Forward,
    /// <summary>Rows go to the instance chosen by a hash of the key columns (keyed state).</summary>
    Hash,
    /// <summary>Every batch goes to every instance.</summary>
    Broadcast,
    /// <summary>Batches are spread round-robin (parallelism changes without keys).</summary>
    Rebalance,
}

/// <summary>Event-time settings of a source: the timestamp column and the watermark rule.</summary>
public sealed record EventTimeSettings(string Column, TimeSpan MaxOutOfOrderness, TimeSpan? IdleTimeout = null);

/// <summary>
/// A vertex of the physical plan: a source or an operator chain (stateless operators fused into one task),
/// possibly ending in a sink; it runs as <see cref="Parallelism"/> task instances.
/// </summary>
public sealed class JobVertex
{
    public required string Name { get; init; }
    public required int Parallelism { get; set; }
    /// <summary>The source read by this vertex's tasks (null for operator vertices).</summary>
    public ISource? Source { get; init; }
    public EventTimeSettings? EventTime { get; init; }
    /// <summary>Creates the operator chain of one instance (the sink operator, if any, last).</summary>
    public required Func<int, IReadOnlyList<Operator>> CreateChain { get; init; }
    /// <summary>One line per operator, for explain.</summary>
    public IReadOnlyList<string> OperatorDescriptions { get; init; } = [];
    public required Schema OutputSchema { get; init; }
    public List<JobEdge> Inputs { get; } = [];
    public List<JobEdge> Outputs { get; } = [];
    public bool IsSink { get; init; }
}

public sealed class JobEdge
{
    public required JobVertex From { get; init; }
    public required JobVertex To { get; init; }
    public required Partitioning Partitioning { get; init; }
    /// <summary>Key column indexes in <c>From.OutputSchema</c> (hash edges).</summary>
    public IReadOnlyList<int> KeyColumns { get; init; } = [];
}

/// <summary>The physical plan: vertices in topological order.</summary>
public sealed class JobGraph
{
    public required string Name { get; init; }
    public List<JobVertex> Vertices { get; } = [];

    public JobVertex Add(JobVertex v)
    {
        Vertices.Add(v);
        return v;
    }

    public static JobEdge Connect(JobVertex from, JobVertex to, Partitioning partitioning, IReadOnlyList<int>? keys = null)
    {
        if (partitioning == Partitioning.Forward && from.Parallelism != to.Parallelism) partitioning = Partitioning.Rebalance;
        var e = new JobEdge { From = from, To = to, Partitioning = partitioning, KeyColumns = keys ?? [] };
        from.Outputs.Add(e);
        to.Inputs.Add(e);
        return e;
    }

    /// <summary>A stable description of the plan's shape: restored state must come from the same shape.</summary>
    public string Fingerprint()
    {
        var sb = new System.Text.StringBuilder();
        foreach (var v in Vertices)
        {
            sb.Append(v.Name).Append('|');
            foreach (var d in v.OperatorDescriptions) sb.Append(d).Append(';');
            sb.Append('\n');
        }
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(sb.ToString()));
        return Convert.ToHexStringLower(hash.AsSpan(0, 8));
    }

    /// <summary>How a source task derives its watermark (as SourceTask does); downstream takes the least over tasks.</summary>
    private static string DescribeWatermark(EventTimeSettings et, ISource? source)
    {
        var lag = Spec.SpecDuration.Format(et.MaxOutOfOrderness);
        var text = source?.EventTimeSplit is { } split
            ? $"watermark per {split}: each task's least, over its {split}s with data pending, of the {split}'s max event time - {lag} (the max when all have caught up)"
            : $"watermark = max event time read by each task - {lag}";
        return et.IdleTimeout is { } idle ? $"{text}; a task without data for {Spec.SpecDuration.Format(idle)} is idle and does not hold it back" : text;
    }

    /// <summary>The physical plan as text: vertices with parallelism, operators and edges.</summary>
    public string Explain()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append("physical plan for ").Append(Name).Append(" (fingerprint ").Append(Fingerprint()).Append(")\n");
        foreach (var v in Vertices)
        {
            sb.Append("  ").Append(v.Name).Append("  parallelism=").Append(v.Parallelism);
            if (v.Source != null) sb.Append("  source=").Append(v.Source.GetType().Name).Append(v.Source.IsBounded ? " (bounded)" : " (unbounded)");
            sb.Append('\n');
            if (v.EventTime is { } et) sb.Append("    event time: ").Append(et.Column).Append(", ").Append(DescribeWatermark(et, v.Source)).Append('\n');
            foreach (var d in v.OperatorDescriptions) sb.Append("    -> ").Append(d).Append('\n');
            sb.Append("    schema: ").Append(string.Join(", ", v.OutputSchema.FieldsList.Select(f => $"{f.Name} {f.DataType.Name}"))).Append('\n');
            foreach (var e in v.Outputs)
            {
                sb.Append("    => ").Append(e.To.Name).Append(" [").Append(e.Partitioning.ToString().ToLowerInvariant());
                if (e.KeyColumns.Count > 0) sb.Append(" by ").Append(string.Join(", ", e.KeyColumns.Select(k => v.OutputSchema.FieldsList[k].Name)));
                sb.Append("]\n");
            }
        }
        return sb.ToString();
    }
}
