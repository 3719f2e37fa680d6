using AiEtl.Engine.Columns;
using AiEtl.Engine.Kernels;
using Apache.Arrow;

namespace AiEtl.Engine.Expressions;

/// <summary>Rows whose evaluation failed (overflow, failed cast, division by zero): they go to the dead-letter output.</summary>
public sealed class RowErrors
{
    private readonly Dictionary<int, string> _errors = [];
    public int Count => _errors.Count;
    public bool Any => _errors.Count > 0;

    /// <summary>Records an error for output row <paramref name="row"/> (the first error of a row wins).</summary>
    public void Add(int row, string message) => _errors.TryAdd(row, message);

    public bool Has(int row) => _errors.ContainsKey(row);
    public IEnumerable<KeyValuePair<int, string>> All => _errors.OrderBy(kv => kv.Key);
    public void Clear() => _errors.Clear();
}

/// <summary>What an expression is evaluated over: a batch, optionally restricted to a selection of its rows.</summary>
public sealed class EvalContext
{
    public required Batch Input { get; init; }
    /// <summary>Selected row indexes, or null for every row.</summary>
    public int[]? Selection { get; init; }
    public int Length { get; init; }
    public required BatchAssembler Assembler { get; init; }
    public required RowErrors Errors { get; init; }
}

/// <summary>A bound, typed expression evaluated column-at-a-time into an Arrow array of <see cref="EvalContext.Length"/> rows.</summary>
public abstract class VExpr
{
    public abstract ColumnKind Kind { get; }
    public abstract IArrowArray Eval(EvalContext ctx);
    public abstract string Describe();
    public override string ToString() => Describe();
}
