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
/// <remarks>Mutable so that an operator can keep one per instance and reset it for each batch.</remarks>
public sealed class EvalContext
{
    public required Batch Input { get; set; }
    /// <summary>Selected row indexes (the first <see cref="Length"/> entries), or null for every row.</summary>
    public int[]? Selection { get; set; }
    public int Length { get; set; }
    public required BatchAssembler Assembler { get; set; }
    public required RowErrors Errors { get; set; }
}

/// <summary>A bound, typed expression evaluated column-at-a-time into an Arrow array of <see cref="EvalContext.Length"/> rows.</summary>
public abstract class VExpr
{
    public abstract ColumnKind Kind { get; }
    public abstract IArrowArray Eval(EvalContext ctx);
    public abstract string Describe();
    public override string ToString() => Describe();
}
