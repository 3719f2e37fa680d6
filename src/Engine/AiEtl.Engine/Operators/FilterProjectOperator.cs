using System.Runtime.CompilerServices;
using System.Buffers;
using System.Text;
using System.Text.Json;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Operators;

/// <summary>
/// Filter and/or projection in one pass: the predicate becomes a selection vector, then each output
/// expression is evaluated over the selected rows only (plain columns are gathered; without a filter they
/// pass through zero-copy). Rows whose evaluation fails (overflow, failed cast, division by zero) go to the
/// dead-letter output with the error; the rest of the batch continues.
/// </summary>
/// <remarks>
/// A predicate made only of <c>column op constant</c> comparisons on fixed-width columns, joined by AND,
/// goes straight to the selection vector (<see cref="ConstantFilter"/>: the first comparison scans the batch,
/// each further one narrows the selection); any other predicate is evaluated to a boolean column first.
/// The assembler, evaluation context, selection and column arrays are per instance and reused for every
/// batch (instances are single-threaded).
/// </remarks>
public sealed class FilterProjectOperator : Operator
{
    /// <summary>
    /// Selection vectors of every instance. Not <see cref="ArrayPool{T}.Shared"/>: its per-thread caches miss
    /// when an instance of the next run rents on another thread, and each miss allocates a 256 KiB array.
    /// </summary>
    private static readonly ArrayPool<int> SelectionPool = ArrayPool<int>.Create(maxArrayLength: 1 << 26, maxArraysPerBucket: 64);

    private readonly VExpr? _predicate;
    private readonly ConstantFilter[]? _filters;
    private readonly IReadOnlyList<(string Name, VExpr Expr)>? _projections;
    private readonly VExpr[]? _exprs;
    private readonly Schema _input;
    private readonly RowErrors _errors = new();
    private readonly BatchAssembler _asm = new();
    private readonly BatchAssembler _scratch = new();
    private readonly EvalContext _eval;
    private readonly IArrowArray[] _cols;
    private int[] _sel = [];
    private OperatorContext? _ctx;

    public FilterProjectOperator(Schema input, VExpr? predicate, IReadOnlyList<(string Name, VExpr Expr)>? projections)
    {
        _input = input;
        _predicate = predicate;
        _projections = projections;
        if (predicate != null && predicate.Kind != ColumnKind.Bool) throw new ArgumentException("the filter must be a boolean expression", nameof(predicate));
        OutputSchema = projections == null
            ? input
            : new Schema(projections.Select(p => ColumnTypes.Field(p.Name, p.Expr.Kind)), null);
        if (predicate != null) _filters = ConstantFilters(predicate, input);
        if (projections != null) _exprs = projections.Select(p => p.Expr).ToArray();
        _cols = new IArrowArray[projections?.Count ?? input.FieldsList.Count];
        _eval = new EvalContext { Input = null!, Assembler = _asm, Errors = _errors };
    }

    public override string Name => _predicate != null && _projections != null ? "filter+project" : _predicate != null ? "filter" : "project";
    public override Schema OutputSchema { get; }

    /// <summary>True when the predicate runs as constant comparisons straight into the selection vector.</summary>
    public bool UsesSelectionKernels => _filters != null;

    public override string Describe()
    {
        var parts = new List<string>();
        if (_predicate != null) parts.Add("filter " + _predicate.Describe());
        if (_projections != null) parts.Add("project " + string.Join(", ", _projections.Select(p => p.Expr is ColumnVExpr c && c.Name == p.Name ? p.Name : $"{p.Expr.Describe()} AS {p.Name}")));
        return string.Join(" -> ", parts);
    }

    public override ValueTask OpenAsync(OperatorContext context, byte[]? restoredState, CancellationToken ct)
    {
        _ctx = context;
        return default;
    }

    public override ValueTask CloseAsync()
    {
        if (_sel.Length > 0) SelectionPool.Return(_sel);
        _sel = [];
        return default;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask ProcessAsync(Batch batch, IOutput output, CancellationToken ct)
    {
        Batch? result;
        try
        {
            result = Apply(batch);
        }
        finally
        {
            batch.Dispose();
        }
        if (result != null) await output.EmitAsync(result, ct).ConfigureAwait(false);
    }

    /// <summary>The conjuncts of an AND tree when every one is <c>column op constant</c> on a fixed-width column; else null.</summary>
    private static ConstantFilter[]? ConstantFilters(VExpr predicate, Schema input)
    {
        var list = new List<ConstantFilter>();
        return Collect(predicate) ? list.ToArray() : null;

        bool Collect(VExpr e)
        {
            if (e is LogicVExpr { Op: "AND" } and) return Collect(and.Left) && Collect(and.Right);
            if (e is CompareVExpr cmp && cmp.AsConstantFilter(input) is { } f)
            {
                list.Add(f);
                return true;
            }
            return false;
        }
    }

    /// <summary>Runs the operator on one batch (the caller keeps ownership of <paramref name="batch"/>); null when no row passes.</summary>
    public Batch? Apply(Batch batch)
    {
        var n = batch.Length;
        _errors.Clear();
        int[]? sel = null;
        var count = n;
        if (_predicate != null)
        {
            if (_sel.Length < n)
            {
                if (_sel.Length > 0) SelectionPool.Return(_sel);
                _sel = SelectionPool.Rent(Math.Max(n, 1024));
            }
            count = _filters != null ? SelectConstant(batch, _filters, _sel) : SelectGeneral(batch, n);
            if (count == 0) return null;
            if (count < n) sel = _sel;
        }
        IArrowArray[] cols = _cols;
        var borrowed = false;
        if (_exprs == null)
        {
            if (sel == null) return batch.Retain();
            try
            {
                for (var c = 0; c < cols.Length; c++) cols[c] = Gather.Column(batch.Column(c), sel.AsSpan(0, count), _asm);
            }
            catch
            {
                _asm.Abandon();
                throw;
            }
        }
        else
        {
            var ctx = _eval;
            ctx.Input = batch;
            ctx.Selection = sel;
            ctx.Length = count;
            ctx.Assembler = _asm;
            try
            {
                for (var c = 0; c < cols.Length; c++) cols[c] = _exprs[c].Eval(ctx);
            }
            catch
            {
                _asm.Abandon();
                throw;
            }
            finally
            {
                ctx.Input = null!;
                ctx.Selection = null;
            }
            if (sel == null)
                foreach (var col in cols)
                    for (var i = 0; i < batch.Data.ColumnCount; i++)
                    {
                        if (!ReferenceEquals(col, batch.Column(i))) continue;
                        // A column passed through zero-copy is still carried by the output: count its bytes
                        // so that edges bounded by bytes see them.
                        borrowed = true;
                        _asm.AddBorrowed(col);
                        break;
                    }
        }
        // RecordBatch copies the column list, so the array is reused for the next batch.
        var output = _asm.Build(OutputSchema, cols, count);
        System.Array.Clear(cols);
        if (borrowed) output.DependOn(batch);
        if (_errors.Any)
        {
            // Rows that failed in a projection: report them (with the input row) and drop them from the output.
            DeadLetterRows(batch, sel, _errors);
            var keep = new int[count - _errors.Count];
            var k = 0;
            for (var i = 0; i < count; i++) if (!_errors.Has(i)) keep[k++] = i;
            var filtered = keep.Length == 0 ? null : Gather.Take(output, keep);
            output.Dispose();
            return filtered;
        }
        return output;
    }

    private static int SelectConstant(Batch batch, ConstantFilter[] filters, int[] sel)
    {
        var count = filters[0].Select(batch.Column(filters[0].Column), sel);
        for (var f = 1; f < filters.Length && count > 0; f++)
            count = filters[f].Refine(batch.Column(filters[f].Column), sel, count);
        return count;
    }

    private int SelectGeneral(Batch batch, int n)
    {
        var ctx = _eval;
        ctx.Input = batch;
        ctx.Selection = null;
        ctx.Length = n;
        ctx.Assembler = _scratch;
        try
        {
            var mask = _predicate!.Eval(ctx);
            var count = Bits.ToSelection(Bits.BoolValues(mask, _scratch), Bits.Validity(mask, _scratch), n, _sel);
            if (_errors.Any)
            {
                DeadLetterRows(batch, null, _errors);
                count = RemoveErrors(_sel, count, _errors);
                _errors.Clear();
            }
            return count;
        }
        finally
        {
            _scratch.Abandon();
            ctx.Input = null!;
            ctx.Assembler = _asm;
        }
    }

    private static int RemoveErrors(int[] sel, int count, RowErrors errors)
    {
        var k = 0;
        for (var i = 0; i < count; i++) if (!errors.Has(sel[i])) sel[k++] = sel[i];
        return k;
    }

    private void DeadLetterRows(Batch batch, int[]? sel, RowErrors errors)
    {
        if (_ctx == null) throw new InvalidOperationException($"row error in {Name}: {errors.All.First().Value}");
        foreach (var (row, message) in errors.All)
        {
            var inputRow = sel == null ? row : sel[row];
            _ctx.DeadLetters.Write(new DeadLetter
            {
                Source = $"{_ctx.Task.Vertex}/{Name}",
                Position = [new("operator", Name), new("instance", _ctx.Task.Index), new("batch_row", inputRow)],
                ErrorClass = ErrorClassOf(message),
                Error = message,
                Raw = RowJson(batch, inputRow),
            });
            Interlocked.Increment(ref _ctx.Metrics.DeadLetters);
            _ctx.Metrics.DeadLetterCount.Add(1);
        }
    }

    /// <summary>The dead-letter class of an expression's row error, from its message.</summary>
    public static string ErrorClassOf(string message) =>
        message.Contains("cast", StringComparison.Ordinal) ? "cast"
        : message.Contains("division", StringComparison.Ordinal) ? "division_by_zero"
        : message.Contains("out of range", StringComparison.Ordinal) || message.Contains("overflow", StringComparison.Ordinal) ? "overflow"
        : "invalid_argument";

    /// <summary>The input row as a JSON object (the raw bytes of an operator-level dead letter).</summary>
    public static byte[] RowJson(Batch batch, int row)
    {
        var buf = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf))
        {
            w.WriteStartObject();
            for (var c = 0; c < batch.Data.ColumnCount; c++)
            {
                var f = batch.Schema.FieldsList[c];
                var v = Values.Get(batch.Column(c), row);
                w.WritePropertyName(f.Name);
                switch (v)
                {
                    case null: w.WriteNullValue(); break;
                    case long l when ColumnTypes.FromArrow(f.DataType) == ColumnKind.Timestamp: w.WriteStringValue(Values.FormatTimestamp(l)); break;
                    case long l: w.WriteNumberValue(l); break;
                    case int i when ColumnTypes.FromArrow(f.DataType) == ColumnKind.Date: w.WriteStringValue(Values.Format(i, ColumnKind.Date)); break;
                    case int i: w.WriteNumberValue(i); break;
                    case double d when double.IsFinite(d): w.WriteNumberValue(d); break;
                    case double d: w.WriteStringValue(d.ToString(System.Globalization.CultureInfo.InvariantCulture)); break;
                    case bool b: w.WriteBooleanValue(b); break;
                    default: w.WriteStringValue((string)v); break;
                }
            }
            w.WriteEndObject();
        }
        return buf.WrittenSpan.ToArray();
    }
}

/// <summary>Renames columns without touching data (zero-copy).</summary>
public sealed class RenameOperator : Operator
{
    public RenameOperator(Schema input, IReadOnlyDictionary<string, string> renames)
    {
        foreach (var old in renames.Keys)
            if (input.GetFieldIndex(old) < 0) throw new ArgumentException($"rename: unknown column '{old}'");
        OutputSchema = new Schema(input.FieldsList.Select(f => renames.TryGetValue(f.Name, out var n) ? new Field(n, f.DataType, f.IsNullable) : f), null);
        Renames = renames;
    }

    public IReadOnlyDictionary<string, string> Renames { get; }
    public override string Name => "rename";
    public override Schema OutputSchema { get; }
    public override string Describe() => "rename " + string.Join(", ", Renames.Select(kv => $"{kv.Key} -> {kv.Value}"));

    public override async ValueTask ProcessAsync(Batch batch, IOutput output, CancellationToken ct)
    {
        var cols = new IArrowArray[batch.Data.ColumnCount];
        for (var i = 0; i < cols.Length; i++) cols[i] = batch.Column(i);
        var result = new Batch(new RecordBatch(OutputSchema, cols, batch.Length));
        result.DependOn(batch);
        batch.Dispose();
        await output.EmitAsync(result, ct).ConfigureAwait(false);
    }
}
