using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Operators.Aggregation;
using AiEtl.Engine.Runtime;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using Apache.Arrow;

namespace AiEtl.Engine.Operators;

/// <summary>How rows are grouped in time. <see cref="None"/> is a plain GROUP BY (results when the input ends).</summary>
public enum WindowKind
{
    None,
    Tumble,
    Hop,
    Session,
}

/// <summary>
/// The window of a <see cref="WindowAggregateOperator"/>. Times are microseconds. TUMBLE uses
/// <paramref name="SizeMicros"/>; HOP <paramref name="SizeMicros"/> and <paramref name="SlideMicros"/>; SESSION
/// <paramref name="GapMicros"/>. <paramref name="TimeColumn"/> (timestamp or int64 microseconds) is ignored for
/// <see cref="WindowKind.None"/>.
/// </summary>
public sealed record WindowSpec(WindowKind Kind, int TimeColumn, long SizeMicros, long SlideMicros, long GapMicros, long AllowedLatenessMicros);

public enum AggregateFunction
{
    CountStar,
    Count,
    Sum,
    Min,
    Max,
    Avg,
    CountDistinct,
    ApproxCountDistinct,
}

/// <summary>
/// One aggregate. <paramref name="InputColumn"/>: index in the operator's input schema (-1 for count(*));
/// <paramref name="FilterColumn"/>: index of a bool input column (FILTER (WHERE …) computed upstream), -1 when none.
/// </summary>
public sealed record AggregateSpec(AggregateFunction Function, int InputColumn, string OutputName, int FilterColumn = -1);

/// <summary>
/// GROUP BY keys over event-time windows, vectorized per batch.
/// <para>
/// Windows are <c>[start, end)</c> in microseconds aligned to the Unix epoch: TUMBLE(size) puts time t in
/// the window starting at ⌊t/size⌋·size; HOP(slide, size) in every window starting at a multiple of slide
/// with start ≤ t &lt; start + size (with slide &gt; size, rows between windows are in none); SESSION(gap) gives each row the interval [t, t + gap) and merges the
/// intervals of a key that overlap (so a session closes once gap has passed without an event; an event
/// exactly gap after the last one starts a new session), window_start = first event, window_end = last
/// event + gap. Out-of-order rows that bridge two sessions merge them.
/// </para>
/// <para>
/// A window is emitted, and its groups freed, in <see cref="OnWatermarkAsync"/> once the watermark W
/// reaches end + allowed lateness. A row whose window has already been emitted is late: it is counted
/// (<see cref="EngineMetrics.LateRows"/>) and written to the dead-letter output with error class
/// <c>late</c> and the row as JSON. A HOP row late for some of its windows still goes into the open ones
/// and is reported once (the error says how many windows it missed). A SESSION row is late when no open
/// session of its key takes it and its own [t, t + gap) ended at or before W − lateness. Rows with a NULL
/// event time go to the dead-letter output (<c>null_event_time</c>). At the end of the input every open
/// window is emitted, so bounded inputs give complete results. <see cref="WindowKind.None"/> keeps one group
/// per key and emits them all at the end of the input (batch SQL; with no key columns, one row even for an
/// empty input).
/// </para>
/// <para>
/// Aggregates skip NULL inputs and rows whose FILTER is not true; sum/min/max/avg over no value are NULL.
/// Integer sums are exact 128-bit; a group whose int64 sum does not fit is not emitted: it goes to the
/// dead-letter output (<c>overflow</c>) naming the group. count(DISTINCT) is exact (a hash set per group);
/// approx_count_distinct is HyperLogLog with p = 14 (≈0.8% standard error, 16 KiB per group beyond 1,024
/// distinct values, exact below). Float64 keys and DISTINCT values compare as SQL does (-0 = 0, NaN = NaN);
/// min/max order NaN above every number and -0 below +0; strings compare by UTF-8 bytes (code point order).
/// </para>
/// <para>
/// Work per batch is column at a time: window starts for every row (HOP: one pass per window offset),
/// keys encoded and hashed per column, then (key, window) groups found or created in open-addressing hash
/// indexes — one per open TUMBLE/HOP window, so a closing window drops its index whole — with the probes
/// prefetched ahead, then each aggregate updated in its own tight loop over (row, group) pairs. Groups are
/// fixed-width key records and struct-of-arrays aggregate states in pooled native memory, freed as their
/// window closes (memory follows the open windows); result batches are gathered column at a time into
/// pooled buffers. Nothing is allocated per row. SESSION assignment is per row (sessions of a key are
/// ordered and merge), its aggregation still vectorized. All open groups are written to checkpoints
/// (<see cref="SnapshotAsync"/>, format version 1) and restored by <see cref="OpenAsync"/>.
/// </para>
/// </summary>
public sealed unsafe class WindowAggregateOperator : Operator
{
    private const byte StateVersion = 1;
    internal const int EmitRows = 16_384;
    private const int MaxWindowsPerRow = 1_000;

    private readonly Schema _input;
    private readonly int[] _keys;
    private readonly WindowSpec _window;
    private readonly AggregateSpec[] _aggregates;
    private readonly ColumnKind[] _keyKinds;
    private readonly Schema _keySchema;
    private readonly long _size;
    private readonly long _slide;
    private readonly int _windowsPerRow;
    private readonly bool _windowed;
    private readonly StringPool _strings = new();
    private readonly GroupStore _store;
    // Plain GROUP BY and SESSION: one index over all groups (SESSION: to the first open session of a key).
    private HashIndex _index = new(16);
    private readonly List<InputView> _views = [];
    private readonly List<AggState> _states = [];
    private readonly Dictionary<(string, int, int, bool), AggState> _stateIndex = [];
    private readonly Output[] _outputs;
    private readonly AggState[] _stateArray;
    private readonly Output[] _sumChecks;
    private readonly IArrowArray[] _keyColumns;

    // Open windows (TUMBLE/HOP): each has its own index; its groups are chained through _next in creation order.
    private readonly SortedSet<long> _windowStarts = [];
    private readonly Dictionary<long, OpenWindow> _windows = [];
    private int _lastWindowGroups = 1024;

    // Per-group arrays kept by the operator itself.
    private readonly NativeArray<int> _next = new(1024);
    private readonly NativeArray<long> _end = new(1024);
    private readonly NativeArray<int> _forward = new(1024);
    private int _groupCapacity;

    // SESSION bookkeeping.
    private readonly TimerHeap _timers = new();
    private int[] _merged = new int[64];
    private int _mergedCount;

    // Per-batch scratch.
    private readonly NativeArray<int> _pairRows = new(4096);
    private readonly NativeArray<long> _pairStarts = new(4096);
    private readonly NativeArray<int> _pairGroups = new(4096);
    private Problem[] _problems = new Problem[64];
    private int _problemCount;

    private long _watermark = long.MinValue;
    private OperatorContext? _ctx;
    private readonly NativeArray<int> _emitIds = new(EmitRows);
    private int _emitCursor = -1;
    private int _scanCursor;
    private bool _ended;
    private bool _closed;
    private long _lateRows;

    public WindowAggregateOperator(Schema input, IReadOnlyList<int> keyColumns, WindowSpec window, IReadOnlyList<AggregateSpec> aggregates)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(keyColumns);
        ArgumentNullException.ThrowIfNull(window);
        ArgumentNullException.ThrowIfNull(aggregates);
        _input = input;
        _keys = [.. keyColumns];
        _window = window;
        _aggregates = [.. aggregates];
        var fields = input.FieldsList;
        if (_keys.Length > 63) throw new ArgumentException("window_aggregate: at most 63 key columns");
        _keyKinds = new ColumnKind[_keys.Length];
        for (var i = 0; i < _keys.Length; i++)
        {
            var k = _keys[i];
            if (k < 0 || k >= fields.Count) throw new ArgumentException($"window_aggregate: key column index {k} is outside the input schema ({fields.Count} columns)");
            if (!ColumnTypes.TryFromArrow(fields[k].DataType, out _keyKinds[i]))
                throw new ArgumentException($"window_aggregate: key column '{fields[k].Name}' has unsupported type {fields[k].DataType.Name}");
        }
        _keySchema = new Schema(_keys.Select((k, i) => ColumnTypes.Field(fields[k].Name, _keyKinds[i])), null);
        _keyColumns = new IArrowArray[_keys.Length];

        _windowed = window.Kind != WindowKind.None;
        switch (window.Kind)
        {
            case WindowKind.None:
                break;
            case WindowKind.Tumble:
                if (window.SizeMicros <= 0) throw new ArgumentException("window_aggregate: TUMBLE size must be positive");
                _size = _slide = window.SizeMicros;
                _windowsPerRow = 1;
                break;
            case WindowKind.Hop:
                if (window.SizeMicros <= 0 || window.SlideMicros <= 0) throw new ArgumentException("window_aggregate: HOP size and slide must be positive");
                _size = window.SizeMicros;
                _slide = window.SlideMicros;
                var per = (_size + _slide - 1) / _slide;
                if (per > MaxWindowsPerRow) throw new ArgumentException($"window_aggregate: HOP size / slide must be at most {MaxWindowsPerRow} (a row would be in {per} windows)");
                _windowsPerRow = (int)per;
                break;
            case WindowKind.Session:
                if (window.GapMicros <= 0) throw new ArgumentException("window_aggregate: SESSION gap must be positive");
                _windowsPerRow = 1;
                break;
            default:
                throw new ArgumentException($"window_aggregate: unknown window kind {window.Kind}");
        }
        if (_windowed)
        {
            if (window.AllowedLatenessMicros < 0) throw new ArgumentException("window_aggregate: allowed lateness must not be negative");
            var t = window.TimeColumn;
            if (t < 0 || t >= fields.Count) throw new ArgumentException($"window_aggregate: time column index {t} is outside the input schema");
            if (!ColumnTypes.TryFromArrow(fields[t].DataType, out var tk) || tk is not (ColumnKind.Timestamp or ColumnKind.Int64))
                throw new ArgumentException($"window_aggregate: time column '{fields[t].Name}' must be a timestamp (or int64 microseconds), not {fields[t].DataType.Name}");
        }

        _store = new GroupStore(_keyKinds, _strings);
        _outputs = new Output[_aggregates.Length];
        var outFields = new List<Field>(_keySchema.FieldsList);
        if (_windowed)
        {
            outFields.Add(ColumnTypes.Field("window_start", ColumnKind.Timestamp, nullable: false));
            outFields.Add(ColumnTypes.Field("window_end", ColumnKind.Timestamp, nullable: false));
        }
        for (var i = 0; i < _aggregates.Length; i++)
        {
            _outputs[i] = CreateOutput(_aggregates[i]);
            outFields.Add(ColumnTypes.Field(_aggregates[i].OutputName, _outputs[i].Kind, _outputs[i].Nullable));
        }
        OutputSchema = new Schema(outFields, null);
        _stateArray = [.. _states];
        _sumChecks = [.. _outputs.Where(o => o.Spec.Function == AggregateFunction.Sum && o.SumInt != null)];
        EnsureGroups(1024);
    }

    public override string Name => "window_aggregate";
    public override Schema OutputSchema { get; }
    public override bool IsStateful => true;

    /// <summary>Groups (key × window) currently held.</summary>
    public int OpenGroups => _store.Count;

    /// <summary>Rows this instance reported as late.</summary>
    public long LateRows => _lateRows;

    /// <summary>The watermark this instance has seen (long.MinValue before the first).</summary>
    public long Watermark => _watermark;

    /// <summary>Approximate bytes of state held (group table, strings, fixed-width aggregate arrays).</summary>
    public long StateBytes => _store.Bytes + _index.Bytes + _windows.Values.Sum(w => w.Index.Bytes) + _strings.Bytes + _next.Bytes + _end.Bytes + _forward.Bytes + _states.Count * (long)_groupCapacity * 16;

    public override string Describe()
    {
        var sb = new StringBuilder("window_aggregate by ");
        sb.Append(_keys.Length == 0 ? "()" : string.Join(", ", _keys.Select(k => _input.FieldsList[k].Name)));
        var t = _windowed ? _input.FieldsList[_window.TimeColumn].Name : "";
        sb.Append(_window.Kind switch
        {
            WindowKind.Tumble => $" TUMBLE({t}, {Micros(_window.SizeMicros)})",
            WindowKind.Hop => $" HOP({t}, {Micros(_window.SlideMicros)}, {Micros(_window.SizeMicros)})",
            WindowKind.Session => $" SESSION({t}, {Micros(_window.GapMicros)})",
            _ => "",
        });
        if (_windowed && _window.AllowedLatenessMicros > 0) sb.Append(" lateness ").Append(Micros(_window.AllowedLatenessMicros));
        sb.Append(": ");
        sb.Append(string.Join(", ", _aggregates.Select(a =>
        {
            var arg = a.Function == AggregateFunction.CountStar ? "*" : _input.FieldsList[a.InputColumn].Name;
            var fn = a.Function switch
            {
                AggregateFunction.CountStar or AggregateFunction.Count => $"count({arg})",
                AggregateFunction.CountDistinct => $"count(DISTINCT {arg})",
                AggregateFunction.ApproxCountDistinct => $"approx_count_distinct({arg})",
                _ => $"{a.Function.ToString().ToLowerInvariant()}({arg})",
            };
            if (a.FilterColumn >= 0) fn += $" FILTER (WHERE {_input.FieldsList[a.FilterColumn].Name})";
            return $"{fn} AS {a.OutputName}";
        })));
        sb.Append(" (keyed state)");
        return sb.ToString();
    }

    private static string Micros(long us) => us.ToString(CultureInfo.InvariantCulture) + "us";

    // ---- construction of aggregate states ------------------------------------------------------------

    private sealed class Output
    {
        public required AggregateSpec Spec { get; init; }
        public required ColumnKind Kind { get; init; }
        public bool Nullable { get; init; } = true;
        public CountState? Count { get; init; }
        public SumIntState? SumInt { get; init; }
        public SumFloatState? SumFloat { get; init; }
        public MinMaxState? MinMax { get; init; }
        public MinMaxStringState? MinMaxString { get; init; }
        public DistinctState? Distinct { get; init; }
        public HllState? Hll { get; init; }
    }

    private Output CreateOutput(AggregateSpec a)
    {
        var fields = _input.FieldsList;
        if (a.FilterColumn >= 0)
        {
            if (a.FilterColumn >= fields.Count) throw new ArgumentException($"window_aggregate: {a.OutputName}: filter column index {a.FilterColumn} is outside the input schema");
            if (!ColumnTypes.TryFromArrow(fields[a.FilterColumn].DataType, out var fk) || fk != ColumnKind.Bool)
                throw new ArgumentException($"window_aggregate: {a.OutputName}: FILTER column '{fields[a.FilterColumn].Name}' must be bool");
        }
        var filter = a.FilterColumn < 0 ? -1 : a.FilterColumn;
        if (a.Function == AggregateFunction.CountStar)
            return new Output { Spec = a, Kind = ColumnKind.Int64, Nullable = false, Count = CountOf(-1, filter) };
        if (a.InputColumn < 0 || a.InputColumn >= fields.Count)
            throw new ArgumentException($"window_aggregate: {a.OutputName}: input column index {a.InputColumn} is outside the input schema");
        var col = a.InputColumn;
        if (!ColumnTypes.TryFromArrow(fields[col].DataType, out var kind))
            throw new ArgumentException($"window_aggregate: {a.OutputName}: column '{fields[col].Name}' has unsupported type {fields[col].DataType.Name}");
        var name = fields[col].Name;
        switch (a.Function)
        {
            case AggregateFunction.Count:
                return new Output { Spec = a, Kind = ColumnKind.Int64, Nullable = false, Count = CountOf(col, filter) };
            case AggregateFunction.Sum or AggregateFunction.Avg:
            {
                var avg = a.Function == AggregateFunction.Avg;
                if (kind is ColumnKind.Int32 or ColumnKind.Int64)
                {
                    var sum = (SumIntState)StateOf("sum_int", col, filter, false, v => new SumIntState(v, kind));
                    return new Output { Spec = a, Kind = avg ? ColumnKind.Float64 : ColumnKind.Int64, Count = CountOf(col, filter), SumInt = sum };
                }
                if (kind == ColumnKind.Float64)
                {
                    var sum = (SumFloatState)StateOf("sum_float", col, filter, false, v => new SumFloatState(v));
                    return new Output { Spec = a, Kind = ColumnKind.Float64, Count = CountOf(col, filter), SumFloat = sum };
                }
                throw new ArgumentException($"window_aggregate: {a.OutputName}: {(avg ? "avg" : "sum")} needs an int32, int64 or float64 column; '{name}' is {ColumnTypes.Name(kind)}");
            }
            case AggregateFunction.Min or AggregateFunction.Max:
            {
                var max = a.Function == AggregateFunction.Max;
                if (kind == ColumnKind.String)
                {
                    var s = (MinMaxStringState)StateOf("minmax_string", col, filter, max, v => new MinMaxStringState(v, _strings, max));
                    return new Output { Spec = a, Kind = kind, MinMaxString = s };
                }
                var m = (MinMaxState)StateOf("minmax", col, filter, max, v => new MinMaxState(v, kind, max));
                return new Output { Spec = a, Kind = kind, Count = CountOf(col, filter), MinMax = m };
            }
            case AggregateFunction.CountDistinct:
                return new Output { Spec = a, Kind = ColumnKind.Int64, Nullable = false, Distinct = (DistinctState)StateOf("distinct", col, filter, false, v => new DistinctState(v, kind, _strings)) };
            case AggregateFunction.ApproxCountDistinct:
                return new Output { Spec = a, Kind = ColumnKind.Int64, Nullable = false, Hll = (HllState)StateOf("hll", col, filter, false, v => new HllState(v, kind)) };
            default:
                throw new ArgumentException($"window_aggregate: {a.OutputName}: unknown aggregate {a.Function}");
        }
    }

    /// <summary>Rows with a non-NULL <paramref name="column"/> (any row for -1, or when the column cannot be NULL) passing the filter.</summary>
    private CountState CountOf(int column, int filter)
    {
        if (column >= 0 && !_input.FieldsList[column].IsNullable) column = -1;
        return (CountState)StateOf("count", column, filter, false, v => new CountState(v));
    }

    private AggState StateOf(string type, int column, int filter, bool flag, Func<InputView, AggState> create)
    {
        if (_stateIndex.TryGetValue((type, column, filter, flag), out var s)) return s;
        var view = _views.FirstOrDefault(v => v.Column == column && v.Filter == filter);
        if (view == null)
        {
            view = new InputView(column, filter);
            _views.Add(view);
        }
        s = create(view);
        _states.Add(s);
        _stateIndex.Add((type, column, filter, flag), s);
        return s;
    }

    private void EnsureGroups(int needed)
    {
        if (needed <= _groupCapacity) return;
        var cap = Math.Max(needed, _groupCapacity * 2);
        _store.EnsureCapacity(cap);
        foreach (var s in _states) s.EnsureCapacity(cap);
        _next.EnsureCapacity(cap);
        _end.EnsureCapacity(cap);
        _forward.EnsureCapacity(cap);
        _forward.Fill(_groupCapacity, _forward.Capacity - _groupCapacity, -1);
        _groupCapacity = cap;
    }

    // ---- lifecycle ------------------------------------------------------------------------------------

    public override ValueTask OpenAsync(OperatorContext context, byte[]? restoredState, CancellationToken ct)
    {
        _ctx = context;
        if (restoredState != null) Restore(restoredState, 0, 0);
        // A restored run may bring new input (files added since the previous run reached its end): take it.
        _ended = false;
        return default;
    }

    public override string? StateIdentity =>
        $"window_aggregate keys ({string.Join(", ", _keys.Select(k => _input.FieldsList[k].Name))}) {StateShape()}";

    /// <summary>Keyed groups can move between instances; a global aggregate (no GROUP BY keys) always runs as one.</summary>
    public override bool CanRescale => _keys.Length > 0;

    public override ValueTask OpenRescaledAsync(OperatorContext context, IReadOnlyList<byte[]> states, int index, int parallelism, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(states);
        _ctx = context;
        var watermark = long.MaxValue;
        foreach (var s in states)
        {
            Restore(s, index, parallelism);
            // Each old instance had its own watermark: resume from the lowest, so no window closes early.
            watermark = Math.Min(watermark, _watermark);
        }
        if (states.Count > 0) _watermark = watermark;
        _ended = false;
        return default;
    }

    public override ValueTask ProcessAsync(Batch batch, IOutput output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(batch);
        try
        {
            if (_ended) throw new InvalidOperationException("window_aggregate: a batch arrived after the end of the input");
            if (batch.Length > 0)
            {
                switch (_window.Kind)
                {
                    case WindowKind.None: ProcessPlain(batch); break;
                    case WindowKind.Session: ProcessSessions(batch); break;
                    default: ProcessWindows(batch); break;
                }
            }
        }
        finally
        {
            batch.Dispose();
        }
        return default;
    }

    public override ValueTask OnWatermarkAsync(long watermarkMicros, IOutput output, CancellationToken ct)
    {
        if (!_windowed || watermarkMicros <= _watermark) return default;
        _watermark = watermarkMicros;
        var limit = CloseLimit();
        return HasClosed(limit) ? EmitClosedAsync(limit, output, ct) : default;
    }

    public override ValueTask OnEndOfInputAsync(IOutput output, CancellationToken ct)
    {
        _ended = true;
        if (!_windowed && _keys.Length == 0 && _store.Count == 0)
        {
            // A global aggregate over no rows still has one row (count 0, the rest NULL), as in SQL.
            _store.PrepareKeys(_keyColumns, 1);
            FindOrAdd(_index, 0, _store.KeyHashes[0], 0, out _);
        }
        _scanCursor = 0;
        return EmitClosedAsync(long.MaxValue, output, ct);
    }

    public override ValueTask CloseAsync()
    {
        if (_closed) return default;
        _closed = true;
        foreach (var s in _states) s.Dispose();
        foreach (var v in _views) v.Dispose();
        _store.Dispose();
        _index.Dispose();
        foreach (var w in _windows.Values) w.Index.Dispose();
        _windows.Clear();
        _next.Dispose();
        _end.Dispose();
        _forward.Dispose();
        _pairRows.Dispose();
        _pairStarts.Dispose();
        _pairGroups.Dispose();
        _emitIds.Dispose();
        return default;
    }

    // ---- per batch ------------------------------------------------------------------------------------

    /// <summary>Windows ending at or before this are closed (W − allowed lateness).</summary>
    private long CloseLimit() => _watermark == long.MinValue ? long.MinValue : SatAdd(_watermark, -_window.AllowedLatenessMicros);

    private IArrowArray[] KeyColumns(Batch batch)
    {
        for (var i = 0; i < _keys.Length; i++) _keyColumns[i] = batch.Column(_keys[i]);
        return _keyColumns;
    }

    private void ProcessPlain(Batch batch)
    {
        var n = batch.Length;
        _pairRows.EnsureCapacity(n);
        var pr = _pairRows.P;
        for (var r = 0; r < n; r++) pr[r] = r;
        _store.PrepareKeys(KeyColumns(batch), n);
        Assign(n);
        Update(batch, n);
    }

    private void ProcessWindows(Batch batch)
    {
        var n = batch.Length;
        var tcol = batch.Column(_window.TimeColumn);
        var times = Gather.Values<long>(tcol);
        var bits = tcol.Data.Buffers[0].Span;
        var off = tcol.Data.Offset;
        var nulls = tcol.NullCount > 0;
        _pairRows.EnsureCapacity(n * _windowsPerRow);
        _pairStarts.EnsureCapacity(n * _windowsPerRow);
        var pr = _pairRows.P;
        var pw = _pairStarts.P;
        var limit = CloseLimit();
        var size = _size;
        var m = 0;
        _problemCount = 0;
        if (_window.Kind == WindowKind.Tumble)
        {
            var start = 0L;
            var have = false;
            for (var r = 0; r < n; r++)
            {
                if (nulls && !Gather.IsValid(bits, off, r))
                {
                    AddProblem(r, ProblemKind.NullTime, 0, 0, 0);
                    continue;
                }
                var t = times[r];
                // Event times are mostly near each other: reuse the last window instead of dividing.
                if (!have || unchecked((ulong)(t - start)) >= (ulong)size)
                {
                    start = FloorDiv(t, size) * size;
                    have = true;
                }
                if (SatAdd(start, size) <= limit)
                {
                    AddProblem(r, ProblemKind.Late, t, 1, 1);
                    continue;
                }
                pr[m] = r;
                pw[m] = start;
                m++;
            }
        }
        else
        {
            var slide = _slide;
            // Window-major: pass o takes every row's o-th latest window, so consecutive pairs share a window.
            for (var o = 0; o < _windowsPerRow; o++)
            {
                for (var r = 0; r < n; r++)
                {
                    if (nulls && !Gather.IsValid(bits, off, r))
                    {
                        if (o == 0) AddProblem(r, ProblemKind.NullTime, 0, 0, 0);
                        continue;
                    }
                    var t = times[r];
                    var ws = (FloorDiv(t, slide) - o) * slide;
                    if (SatAdd(ws, size) <= t) continue; // fewer windows for this row
                    if (SatAdd(ws, size) <= limit) continue;
                    pr[m] = r;
                    pw[m] = ws;
                    m++;
                }
            }
            if (limit != long.MinValue)
            {
                for (var r = 0; r < n; r++)
                {
                    if (nulls && !Gather.IsValid(bits, off, r)) continue;
                    var t = times[r];
                    var last = FloorDiv(t, slide);
                    var first = FloorDiv(SatAdd(t, -size), slide) + 1;
                    var late = 0;
                    for (var k = first; k <= last && SatAdd(k * slide, size) <= limit; k++) late++;
                    if (late > 0) AddProblem(r, ProblemKind.Late, t, late, (int)(last - first + 1));
                }
            }
        }
        ReportProblems(batch);
        _store.PrepareKeys(KeyColumns(batch), n);
        Assign(m);
        Update(batch, m);
    }

    /// <summary>Finds or creates the group of every (row, window) pair.</summary>
    private void Assign(int m)
    {
        EnsureGroups(_store.High + Math.Max(0, m - _store.FreeIds));
        _pairGroups.EnsureCapacity(m);
        var pr = _pairRows.P;
        var pg = _pairGroups.P;
        var kh = _store.KeyHashes;
        if (!_windowed)
        {
            for (var j = 0; j < m; j++) pg[j] = FindOrAdd(_index, pr[j], kh[pr[j]], 0, out _);
            return;
        }
        var pw = _pairStarts.P;
        // Runs of pairs in the same window (one run per batch, usually) are probed by a tight loop.
        for (var j0 = 0; j0 < m;)
        {
            var ws = pw[j0];
            var j1 = j0 + 1;
            while (j1 < m && pw[j1] == ws) j1++;
            ProbeRun(Window(ws), ws, j0, j1);
            j0 = j1;
        }
    }

    /// <summary>
    /// Finds or creates the groups of pairs [<paramref name="j0"/>, <paramref name="j1"/>), all in window
    /// <paramref name="ws"/>. The probes are independent, so the loop prefetches the slot 16 pairs ahead and,
    /// from the slot fetched 8 pairs ago, that group's key record: misses overlap instead of queueing.
    /// </summary>
    private void ProbeRun(OpenWindow w, long ws, int j0, int j1)
    {
        const int Ahead = 16;
        var pr = _pairRows.P;
        var pg = _pairGroups.P;
        var kh = _store.KeyHashes;
        var recs = _store.Records;
        var stride = _store.Stride;
        var slots = w.Index.Slots;
        var mask = w.Index.Mask;
        var shift = w.Index.Shift;
        var simple = _store.HasSingleFixedKey;
        var kv = _store.KeyValues;
        var km = _store.KeyNulls;
        for (var j = j0; j < j1; j++)
        {
            if (Sse.IsSupported && j + Ahead < j1)
            {
                Sse.Prefetch0(slots + (int)(kh[pr[j + Ahead]] >> shift));
                var ahead = slots[(int)(kh[pr[j + Ahead / 2]] >> shift)];
                if (ahead != 0) Sse.Prefetch0(recs + (long)HashIndex.GroupOf(ahead) * stride);
            }
            var r = pr[j];
            var h = kh[r];
            var i = (int)(h >> shift);
            var tag = HashIndex.Tag(h);
            int g;
            while (true)
            {
                var s = slots[i];
                if (s == 0)
                {
                    g = NewWindowGroup(w, r, h, ws, i);
                    recs = _store.Records;
                    slots = w.Index.Slots;
                    mask = w.Index.Mask;
                    shift = w.Index.Shift;
                    break;
                }
                if (HashIndex.Tag(s) == tag)
                {
                    g = HashIndex.GroupOf(s);
                    var rec = recs + (long)g * stride;
                    if (simple ? rec[0] == kv[r] && rec[1] == (long)km[r] : _store.Matches(g, r)) break;
                }
                i = (i + 1) & mask;
            }
            pg[j] = g;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int NewWindowGroup(OpenWindow w, int r, ulong h, long ws, int slot)
    {
        var g = _store.New(r, h, ws);
        InitGroup(g);
        w.Append(g, _next.P);
        w.Index.Insert(h, g, slot);
        return g;
    }

    /// <summary>The group of prepared row <paramref name="r"/> in <paramref name="index"/>, or -1 with the empty slot where it goes.</summary>
    private int Find(HashIndex index, int r, ulong h, out int slot)
    {
        var slots = index.Slots;
        var mask = index.Mask;
        var i = (int)(h >> index.Shift);
        var tag = HashIndex.Tag(h);
        while (true)
        {
            var s = slots[i];
            if (s == 0)
            {
                slot = i;
                return -1;
            }
            if (HashIndex.Tag(s) == tag && _store.Matches(HashIndex.GroupOf(s), r))
            {
                slot = i;
                return HashIndex.GroupOf(s);
            }
            i = (i + 1) & mask;
        }
    }

    private int FindOrAdd(HashIndex index, int r, ulong h, long start, out bool created)
    {
        var g = Find(index, r, h, out var slot);
        created = g < 0;
        if (!created) return g;
        g = _store.New(r, h, start);
        InitGroup(g);
        index.Insert(h, g, slot);
        return g;
    }

    /// <summary>The slot of <paramref name="index"/> holding a group with the key of group <paramref name="g"/>.</summary>
    private int SlotOfSameKey(HashIndex index, int g)
    {
        var h = _store.HashOf(g);
        var slots = index.Slots;
        var mask = index.Mask;
        var i = (int)(h >> index.Shift);
        var tag = HashIndex.Tag(h);
        while (true)
        {
            var s = slots[i];
            if (s == 0) return -1;
            if (HashIndex.Tag(s) == tag && _store.SameKey(HashIndex.GroupOf(s), g)) return i;
            i = (i + 1) & mask;
        }
    }

    private void InitGroup(int g)
    {
        var states = _stateArray;
        for (var i = 0; i < states.Length; i++) states[i].Init(g);
        _next.P[g] = -1;
    }

    private void Update(Batch batch, int m)
    {
        if (m == 0) return;
        foreach (var v in _views) v.Prepare(batch);
        var args = new UpdateArgs(batch, _pairRows.P, _pairGroups.P, m);
        foreach (var s in _states) s.Update(args);
    }

    /// <summary>An open TUMBLE/HOP window: its index and its groups in creation order.</summary>
    private sealed class OpenWindow(int expected)
    {
        public readonly HashIndex Index = new(expected);
        public int Head = -1;
        public int Tail = -1;

        public void Append(int g, int* next)
        {
            next[g] = -1;
            if (Tail >= 0) next[Tail] = g;
            else Head = g;
            Tail = g;
        }
    }

    private OpenWindow Window(long ws)
    {
        if (_windows.TryGetValue(ws, out var w)) return w;
        w = new OpenWindow(_lastWindowGroups);
        _windows.Add(ws, w);
        _windowStarts.Add(ws);
        return w;
    }

    // ---- sessions -------------------------------------------------------------------------------------

    private void ProcessSessions(Batch batch)
    {
        var n = batch.Length;
        var tcol = batch.Column(_window.TimeColumn);
        var times = Gather.Values<long>(tcol);
        var bits = tcol.Data.Buffers[0].Span;
        var off = tcol.Data.Offset;
        var nulls = tcol.NullCount > 0;
        _problemCount = 0;
        _store.PrepareKeys(KeyColumns(batch), n);
        // At most one new session per row.
        EnsureGroups(_store.High + Math.Max(0, n - _store.FreeIds));
        _pairRows.EnsureCapacity(n);
        _pairGroups.EnsureCapacity(n);
        var pr = _pairRows.P;
        var pg = _pairGroups.P;
        var kh = _store.KeyHashes;
        var limit = CloseLimit();
        var m = 0;
        for (var r = 0; r < n; r++)
        {
            if (nulls && !Gather.IsValid(bits, off, r))
            {
                AddProblem(r, ProblemKind.NullTime, 0, 0, 0);
                continue;
            }
            var t = times[r];
            var g = AssignSession(r, t, kh[r], limit);
            if (g < 0)
            {
                AddProblem(r, ProblemKind.Late, t, 1, 1);
                continue;
            }
            pr[m] = r;
            pg[m] = g;
            m++;
        }
        if (_mergedCount > 0)
        {
            // Rows assigned to a session that a later row merged into another follow the merge.
            var fwd = _forward.P;
            for (var j = 0; j < m; j++)
            {
                var g = pg[j];
                while (fwd[g] >= 0) g = fwd[g];
                pg[j] = g;
            }
        }
        ReportProblems(batch);
        Update(batch, m);
        for (var i = 0; i < _mergedCount; i++)
        {
            var g = _merged[i];
            _forward.P[g] = -1;
            FreeGroup(g);
        }
        _mergedCount = 0;
    }

    /// <summary>
    /// The session of row <paramref name="r"/> at time <paramref name="t"/>: an open session of its key that
    /// [t, t + gap) overlaps (extended, and merged with the following ones it now reaches), or a new one;
    /// -1 when the row is late. A key's open sessions are disjoint and chained by start; the hash table
    /// holds the first.
    /// </summary>
    private int AssignSession(int r, long t, ulong h, long limit)
    {
        var end = SatAdd(t, _window.GapMicros);
        var next = _next.P;
        var ends = _end.P;
        var head = Find(_index, r, h, out var slot);
        if (head < 0)
        {
            if (end <= limit) return -1;
            var g = _store.New(r, h, t);
            _index.Insert(h, g, slot);
            StartSession(g, end);
            return g;
        }
        var prev = -1;
        var s = head;
        while (s >= 0 && ends[s] <= t)
        {
            prev = s;
            s = next[s];
        }
        if (s >= 0 && _store.Start(s) < end)
        {
            if (t < _store.Start(s)) _store.Start(s) = t;
            if (end > ends[s])
            {
                ends[s] = end;
                var following = next[s];
                while (following >= 0 && _store.Start(following) < ends[s])
                {
                    foreach (var st in _states) st.Merge(s, following);
                    if (ends[following] > ends[s]) ends[s] = ends[following];
                    next[s] = next[following];
                    _forward.P[following] = s;
                    if (_mergedCount == _merged.Length) System.Array.Resize(ref _merged, _merged.Length * 2);
                    _merged[_mergedCount++] = following;
                    following = next[s];
                }
            }
            return s;
        }
        if (end <= limit) return -1;
        var created = _store.NewLike(head, t);
        StartSession(created, end);
        next[created] = s;
        if (prev >= 0) next[prev] = created;
        else _index.Replace(slot, created);
        return created;
    }

    private void StartSession(int g, long end)
    {
        InitGroup(g);
        _end.P[g] = end;
        _timers.Push(end, g, _store.Generation(g));
    }

    /// <summary>Takes session <paramref name="g"/> out of its key's chain (and the hash table when it was the first).</summary>
    private void UnlinkSession(int g)
    {
        var slot = SlotOfSameKey(_index, g);
        var head = HashIndex.GroupOf(_index.Slots[slot]);
        if (head == g)
        {
            var following = _next.P[g];
            if (following >= 0) _index.Replace(slot, following);
            else _index.RemoveAt(slot);
            return;
        }
        var p = head;
        while (_next.P[p] != g) p = _next.P[p];
        _next.P[p] = _next.P[g];
    }

    private void FreeGroup(int g)
    {
        var states = _stateArray;
        for (var i = 0; i < states.Length; i++) states[i].Free(g);
        _store.Free(g);
    }

    // ---- emission -------------------------------------------------------------------------------------

    private bool HasClosed(long limit) => _window.Kind switch
    {
        WindowKind.Tumble or WindowKind.Hop => _windowStarts.Count > 0 && SatAdd(_windowStarts.Min, _size) <= limit,
        WindowKind.Session => _timers.Count > 0 && _timers.MinKey <= limit,
        _ => false,
    };

    private ValueTask EmitClosedAsync(long limit, IOutput output, CancellationToken ct) => WindowEmission.DrainAsync(this, limit, output, ct);

    /// <summary>
    /// Takes closed groups out of the windows (up to <see cref="EmitRows"/>) into the emission list and
    /// returns how many; <paramref name="more"/> tells whether closed groups may remain. Groups whose int64
    /// sum overflowed are dead-lettered and freed here instead.
    /// </summary>
    internal int CollectClosed(long limit, out bool more)
    {
        var ids = _emitIds.P;
        var n = 0;
        more = true;
        while (n < EmitRows)
        {
            if (_emitCursor >= 0)
            {
                var g = _emitCursor;
                _emitCursor = _next.P[g];
                if (Take(g)) ids[n++] = g;
                continue;
            }
            switch (_window.Kind)
            {
                case WindowKind.Tumble or WindowKind.Hop:
                {
                    if (_windowStarts.Count == 0 || SatAdd(_windowStarts.Min, _size) > limit)
                    {
                        more = false;
                        return n;
                    }
                    var ws = _windowStarts.Min;
                    var w = _windows[ws];
                    _windows.Remove(ws);
                    _windowStarts.Remove(ws);
                    // The whole index goes at once; the next window starts at this one's size.
                    _lastWindowGroups = Math.Max(16, w.Index.Count);
                    w.Index.Dispose();
                    _emitCursor = w.Head;
                    break;
                }
                case WindowKind.Session:
                {
                    if (_timers.Count == 0 || _timers.MinKey > limit)
                    {
                        more = false;
                        return n;
                    }
                    _timers.Pop(out var key, out var g, out var generation);
                    if (!_store.IsAlive(g) || _store.Generation(g) != generation) break;
                    if (_end.P[g] > key)
                    {
                        _timers.Push(_end.P[g], g, generation);
                        break;
                    }
                    UnlinkSession(g);
                    if (Take(g)) ids[n++] = g;
                    break;
                }
                default:
                {
                    while (_scanCursor < _store.High && !_store.IsAlive(_scanCursor)) _scanCursor++;
                    if (_scanCursor >= _store.High)
                    {
                        if (_index.Count > 0)
                        {
                            _index.Dispose();
                            _index = new HashIndex(16);
                        }
                        more = false;
                        return n;
                    }
                    var g = _scanCursor++;
                    if (Take(g)) ids[n++] = g;
                    break;
                }
            }
        }
        return n;
    }

    /// <summary>True when group <paramref name="g"/> has a result row; otherwise it is dead-lettered and freed.</summary>
    private bool Take(int g)
    {
        foreach (var o in _sumChecks)
        {
            if (o.SumInt!.Overflows(g))
            {
                DeadLetterGroup(g, o);
                FreeGroup(g);
                return false;
            }
        }
        return true;
    }

    /// <summary>The result batch of the <paramref name="n"/> collected groups, column at a time into pooled buffers; frees the groups.</summary>
    internal Batch BuildResults(int n)
    {
        var ids = _emitIds.P;
        var asm = new BatchAssembler();
        var cols = new IArrowArray[OutputSchema.FieldsList.Count];
        var c = 0;
        for (; c < _keys.Length; c++) cols[c] = _store.GatherKey(c, ids, n, asm);
        if (_windowed)
        {
            var starts = asm.Rent(Math.Max(n * 8, 8));
            var ends = asm.Rent(Math.Max(n * 8, 8));
            var s = (long*)starts.Pointer;
            var e = (long*)ends.Pointer;
            for (var i = 0; i < n; i++)
            {
                s[i] = _store.Start(ids[i]);
                e[i] = WindowEnd(ids[i]);
            }
            cols[c++] = asm.Fixed(ColumnKind.Timestamp, n, starts, null, 0);
            cols[c++] = asm.Fixed(ColumnKind.Timestamp, n, ends, null, 0);
        }
        foreach (var o in _outputs) cols[c++] = GatherAggregate(o, ids, n, asm);
        for (var i = 0; i < n; i++) FreeGroup(ids[i]);
        return asm.Build(OutputSchema, cols, n);
    }

    private long WindowEnd(int g) => _window.Kind == WindowKind.Session ? _end.P[g] : SatAdd(_store.Start(g), _size);

    private IArrowArray GatherAggregate(Output o, int* ids, int n, BatchAssembler asm)
    {
        switch (o.Spec.Function)
        {
            case AggregateFunction.CountStar or AggregateFunction.Count or AggregateFunction.CountDistinct or AggregateFunction.ApproxCountDistinct:
            {
                var values = asm.Rent(Math.Max(n * 8, 8));
                var v = (long*)values.Pointer;
                if (o.Count != null) for (var i = 0; i < n; i++) v[i] = o.Count[ids[i]];
                else if (o.Distinct != null) for (var i = 0; i < n; i++) v[i] = o.Distinct.Count(ids[i]);
                else for (var i = 0; i < n; i++) v[i] = o.Hll!.Estimate(ids[i]);
                return asm.Fixed(ColumnKind.Int64, n, values, null, 0);
            }
        }
        var validity = asm.Rent((n + 7) / 8 + 8);
        var vb = validity.Pointer;
        new Span<byte>(vb, (n + 7) / 8).Clear();
        var nulls = 0;
        if (o.MinMaxString != null)
        {
            long total = 0;
            for (var i = 0; i < n; i++)
            {
                var id = o.MinMaxString[ids[i]];
                if (id < 0) nulls++;
                else
                {
                    vb[i >> 3] |= (byte)(1 << (i & 7));
                    total += _strings.Get(id).Length;
                }
            }
            if (total > int.MaxValue) throw new InvalidOperationException($"{o.Spec.OutputName}: string column exceeds 2 GiB in one result batch");
            var offsets = asm.Rent((n + 1) * 4);
            var bytes = asm.Rent((int)Math.Max(total, 8));
            var off = (int*)offsets.Pointer;
            var at = 0;
            off[0] = 0;
            for (var i = 0; i < n; i++)
            {
                var id = o.MinMaxString[ids[i]];
                if (id >= 0)
                {
                    var src = _strings.Get(id);
                    src.CopyTo(new Span<byte>(bytes.Pointer + at, src.Length));
                    at += src.Length;
                }
                off[i + 1] = at;
            }
            return asm.String(n, offsets, bytes, at, validity, nulls);
        }
        var count = o.Count!;
        for (var i = 0; i < n; i++)
        {
            if (count[ids[i]] == 0) nulls++;
            else vb[i >> 3] |= (byte)(1 << (i & 7));
        }
        var kind = o.Kind;
        var width = kind == ColumnKind.Bool ? 0 : ColumnTypes.FixedWidth(kind);
        var buffer = asm.Rent(Math.Max(width == 0 ? (n + 7) / 8 + 8 : n * width, 8));
        switch (o.Spec.Function)
        {
            case AggregateFunction.Sum when o.SumInt != null:
            {
                var v = (long*)buffer.Pointer;
                for (var i = 0; i < n; i++) v[i] = o.SumInt.Value(ids[i]);
                break;
            }
            case AggregateFunction.Sum:
            {
                var v = (double*)buffer.Pointer;
                for (var i = 0; i < n; i++) v[i] = o.SumFloat![ids[i]];
                break;
            }
            case AggregateFunction.Avg:
            {
                var v = (double*)buffer.Pointer;
                for (var i = 0; i < n; i++)
                {
                    var g = ids[i];
                    var k = count[g];
                    v[i] = k == 0 ? 0 : o.SumInt != null ? (double)o.SumInt.Exact(g) / k : o.SumFloat![g] / k;
                }
                break;
            }
            default:
                o.MinMax!.GatherValues(ids, n, buffer.Pointer);
                break;
        }
        return asm.Fixed(kind, n, buffer, validity, nulls);
    }

    // ---- dead letters ---------------------------------------------------------------------------------

    private enum ProblemKind : byte
    {
        NullTime,
        Late,
    }

    private record struct Problem(int Row, ProblemKind Kind, long Time, int LateWindows, int Windows);

    private void AddProblem(int row, ProblemKind kind, long time, int lateWindows, int windows)
    {
        if (_problemCount == _problems.Length) System.Array.Resize(ref _problems, _problems.Length * 2);
        _problems[_problemCount++] = new Problem(row, kind, time, lateWindows, windows);
    }

    private OperatorContext Context => _ctx ?? throw new InvalidOperationException("window_aggregate: OpenAsync was not called");

    private void ReportProblems(Batch batch)
    {
        if (_problemCount == 0) return;
        var ctx = Context;
        long late = 0;
        for (var i = 0; i < _problemCount; i++)
        {
            var p = _problems[i];
            string error;
            if (p.Kind == ProblemKind.NullTime)
            {
                error = $"the event time column '{_input.FieldsList[_window.TimeColumn].Name}' is NULL";
            }
            else
            {
                late++;
                error = LateMessage(p);
            }
            WriteDeadLetter(ctx, p.Kind == ProblemKind.NullTime ? "null_event_time" : "late", error, FilterProjectOperator.RowJson(batch, p.Row),
                [new("operator", Name), new("instance", ctx.Task.Index), new("batch_row", p.Row)]);
        }
        if (late > 0)
        {
            _lateRows += late;
            ctx.Metrics.LateRows.Add(late, new KeyValuePair<string, object?>("operator", Name));
        }
        _problemCount = 0;
    }

    private string LateMessage(Problem p)
    {
        var t = Values.FormatTimestamp(p.Time);
        var wm = Values.FormatTimestamp(_watermark);
        var lateness = _window.AllowedLatenessMicros > 0 ? $" + allowed lateness {_window.AllowedLatenessMicros}us" : "";
        return _window.Kind switch
        {
            WindowKind.Tumble =>
                $"late row: event time {t} is in window [{Values.FormatTimestamp(FloorDiv(p.Time, _size) * _size)}, {Values.FormatTimestamp(FloorDiv(p.Time, _size) * _size + _size)}), already closed by watermark {wm} (window end{lateness} reached)",
            WindowKind.Hop when p.LateWindows < p.Windows =>
                $"late row: event time {t} missed {p.LateWindows} of its {p.Windows} HOP windows, already closed by watermark {wm}; it was added to the {p.Windows - p.LateWindows} still open",
            WindowKind.Hop =>
                $"late row: all {p.Windows} HOP windows of event time {t} were already closed by watermark {wm}",
            _ =>
                $"late row: event time {t} opens no session (none of its key is open within the gap) and its session [{t}, {Values.FormatTimestamp(SatAdd(p.Time, _window.GapMicros))}) already ended by watermark {wm}{lateness}",
        };
    }

    private void DeadLetterGroup(int g, Output o)
    {
        var ctx = Context;
        var buf = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf))
        {
            w.WriteStartObject();
            for (var c = 0; c < _keys.Length; c++)
            {
                w.WritePropertyName(_keySchema.FieldsList[c].Name);
                switch (_store.KeyObject(g, c))
                {
                    case null: w.WriteNullValue(); break;
                    case long l when _keyKinds[c] == ColumnKind.Timestamp: w.WriteStringValue(Values.FormatTimestamp(l)); break;
                    case long l: w.WriteNumberValue(l); break;
                    case int i when _keyKinds[c] == ColumnKind.Date: w.WriteStringValue(Values.Format(i, ColumnKind.Date)); break;
                    case int i: w.WriteNumberValue(i); break;
                    case double d when double.IsFinite(d): w.WriteNumberValue(d); break;
                    case double d: w.WriteStringValue(d.ToString(CultureInfo.InvariantCulture)); break;
                    case bool x: w.WriteBooleanValue(x); break;
                    case var s: w.WriteStringValue((string)s); break;
                }
            }
            if (_windowed)
            {
                w.WriteString("window_start", Values.FormatTimestamp(_store.Start(g)));
                w.WriteString("window_end", Values.FormatTimestamp(WindowEnd(g)));
            }
            w.WriteEndObject();
        }
        var raw = buf.WrittenSpan.ToArray();
        var arg = _input.FieldsList[o.Spec.InputColumn].Name;
        var position = new List<KeyValuePair<string, object>> { new("operator", Name), new("instance", ctx.Task.Index), new("aggregate", o.Spec.OutputName) };
        if (_windowed) position.Add(new("window_start", Values.FormatTimestamp(_store.Start(g))));
        WriteDeadLetter(ctx, "overflow",
            $"sum({arg}) AS {o.Spec.OutputName} is out of the int64 range ({o.SumInt!.Exact(g).ToString(CultureInfo.InvariantCulture)}) for group {Encoding.UTF8.GetString(raw)}; the group's row is not emitted",
            raw, position);
    }

    private void WriteDeadLetter(OperatorContext ctx, string errorClass, string error, byte[] raw, List<KeyValuePair<string, object>> position)
    {
        ctx.DeadLetters.Write(new DeadLetter
        {
            Source = $"{ctx.Task.Vertex}/{Name}",
            Position = position,
            ErrorClass = errorClass,
            Error = error,
            Raw = raw,
        });
        Interlocked.Increment(ref ctx.Metrics.DeadLetters);
        ctx.Metrics.DeadLetterCount.Add(1);
    }

    // ---- checkpoints ----------------------------------------------------------------------------------

    public override ValueTask<byte[]?> SnapshotAsync(long checkpointId, CancellationToken ct)
    {
        var order = GroupsInOrder();
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(StateVersion);
            w.Write(StateShape());
            w.Write(_watermark);
            w.Write(_ended);
            w.Write(order.Count);
            foreach (var g in order)
            {
                for (var c = 0; c < _keys.Length; c++)
                {
                    var isNull = _store.IsNull(g, c);
                    w.Write(isNull);
                    if (isNull) continue;
                    if (_keyKinds[c] == ColumnKind.String)
                    {
                        var s = _store.KeyString(g, c);
                        w.Write(s.Length);
                        w.Write(s);
                    }
                    else
                    {
                        w.Write(_store.KeyValue(g, c));
                    }
                }
                w.Write(_store.Start(g));
                w.Write(_window.Kind == WindowKind.Session ? _end.P[g] : 0L);
            }
            foreach (var s in _states)
                foreach (var g in order) s.Write(w, g);
        }
        return ValueTask.FromResult<byte[]?>(ms.ToArray());
    }

    /// <summary>What the state depends on; a checkpoint of another shape is refused.</summary>
    private string StateShape() =>
        $"{_window.Kind}|{_window.SizeMicros}|{_window.SlideMicros}|{_window.GapMicros}|{string.Join(',', _keyKinds)}|" +
        string.Join(',', _aggregates.Select(a => $"{a.Function}:{a.InputColumn}:{a.FilterColumn}"));

    /// <summary>Open groups in emission order (windows by start, then creation order).</summary>
    private List<int> GroupsInOrder()
    {
        var order = new List<int>(_store.Count);
        if (_window.Kind is WindowKind.Tumble or WindowKind.Hop)
        {
            foreach (var ws in _windowStarts)
                for (var g = _windows[ws].Head; g >= 0; g = _next.P[g]) order.Add(g);
        }
        else
        {
            for (var g = 0; g < _store.High; g++)
                if (_store.IsAlive(g)) order.Add(g);
        }
        return order;
    }

    /// <summary>Restores a snapshot; with <paramref name="parallelism"/> &gt; 0 only the groups whose key hash maps to instance <paramref name="index"/>.</summary>
    private void Restore(byte[] state, int index, int parallelism)
    {
        using var r = new BinaryReader(new MemoryStream(state), Encoding.UTF8);
        var version = r.ReadByte();
        if (version != StateVersion) throw new InvalidDataException($"window_aggregate: unknown state version {version}");
        var shape = r.ReadString();
        if (shape != StateShape()) throw new InvalidDataException($"window_aggregate: the checkpoint was written by a different aggregation ({shape}), not {StateShape()}");
        _watermark = r.ReadInt64();
        _ended = r.ReadBoolean();
        var count = r.ReadInt32();
        if (count == 0) return;
        var starts = new long[count];
        var ends = new long[count];
        using var keys = new BatchBuilder(_keySchema, count);
        for (var i = 0; i < count; i++)
        {
            for (var c = 0; c < _keys.Length; c++)
            {
                var col = keys[c];
                if (r.ReadBoolean())
                {
                    col.AppendNull();
                    continue;
                }
                switch (_keyKinds[c])
                {
                    case ColumnKind.String: col.AppendUtf8(r.ReadBytes(r.ReadInt32())); break;
                    case ColumnKind.Int32 or ColumnKind.Date: col.AppendInt32((int)r.ReadInt64()); break;
                    case ColumnKind.Bool: col.AppendBool(r.ReadInt64() != 0); break;
                    case ColumnKind.Float64: col.AppendDouble(BitConverter.Int64BitsToDouble(r.ReadInt64())); break;
                    default: col.AppendInt64(r.ReadInt64()); break;
                }
            }
            if (_keys.Length == 0) keys.AppendEmptyRow();
            starts[i] = r.ReadInt64();
            ends[i] = r.ReadInt64();
        }
        using var batch = keys.Build();
        for (var c = 0; c < _keys.Length; c++) _keyColumns[c] = batch.Column(c);
        bool[]? skip = null;
        if (parallelism > 0)
        {
            // The same hash the edge in front of this operator partitions by (its key columns, in order).
            var hashes = new ulong[count];
            KeyHash.Compute(batch.Data, Enumerable.Range(0, _keys.Length).ToArray(), hashes);
            skip = new bool[count];
            for (var i = 0; i < count; i++) skip[i] = KeyHash.Partition(hashes[i], parallelism) != index;
        }
        _store.PrepareKeys(_keyColumns, count);
        // One spare group receives the aggregate states of skipped groups (read past, never used).
        EnsureGroups(_store.High + count + 1);
        var scratch = _groupCapacity - 1;
        var ids = new int[count];
        var kh = _store.KeyHashes;
        for (var i = 0; i < count; i++)
        {
            if (skip != null && skip[i])
            {
                ids[i] = -1;
                continue;
            }
            switch (_window.Kind)
            {
                case WindowKind.Tumble or WindowKind.Hop:
                {
                    var w = Window(starts[i]);
                    ids[i] = FindOrAdd(w.Index, i, kh[i], starts[i], out var created);
                    if (!created) throw new InvalidDataException("window_aggregate: a group appears twice in the checkpoint");
                    w.Append(ids[i], _next.P);
                    break;
                }
                case WindowKind.Session:
                    ids[i] = RestoreSession(i, kh[i], starts[i], ends[i]);
                    break;
                default:
                {
                    ids[i] = FindOrAdd(_index, i, kh[i], 0, out var created);
                    if (!created) throw new InvalidDataException("window_aggregate: a group appears twice in the checkpoint");
                    break;
                }
            }
        }
        foreach (var s in _states)
        {
            foreach (var g in ids)
            {
                if (g >= 0)
                {
                    s.Read(r, g);
                    continue;
                }
                s.Read(r, scratch);
                s.Free(scratch);
            }
        }
    }

    private int RestoreSession(int row, ulong h, long start, long end)
    {
        var head = Find(_index, row, h, out var slot);
        if (head < 0)
        {
            var g = _store.New(row, h, start);
            _index.Insert(h, g, slot);
            StartSession(g, end);
            return g;
        }
        var created = _store.NewLike(head, start);
        StartSession(created, end);
        if (start < _store.Start(head))
        {
            _next.P[created] = head;
            _index.Replace(slot, created);
            return created;
        }
        var p = head;
        while (_next.P[p] >= 0 && _store.Start(_next.P[p]) < start) p = _next.P[p];
        _next.P[created] = _next.P[p];
        _next.P[p] = created;
        return created;
    }

    // ---- arithmetic -----------------------------------------------------------------------------------

    private static long FloorDiv(long a, long b)
    {
        var q = a / b;
        return (a % b) < 0 ? q - 1 : q;
    }

    /// <summary>a + b, saturating at the int64 range (windows near the ends of time stay ordered).</summary>
    private static long SatAdd(long a, long b)
    {
        var r = unchecked(a + b);
        if (((a ^ r) & (b ^ r)) < 0) return b > 0 ? long.MaxValue : long.MinValue;
        return r;
    }
}

/// <summary>The asynchronous half of emission (await is not allowed in the operator's unsafe context).</summary>
internal static class WindowEmission
{
    public static async ValueTask DrainAsync(WindowAggregateOperator op, long limit, IOutput output, CancellationToken ct)
    {
        while (true)
        {
            var n = op.CollectClosed(limit, out var more);
            if (n > 0) await output.EmitAsync(op.BuildResults(n), ct).ConfigureAwait(false);
            if (!more) return;
        }
    }
}
