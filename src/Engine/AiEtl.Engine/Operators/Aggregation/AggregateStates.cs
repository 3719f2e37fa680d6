using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using AiEtl.Engine.Columns;
using Kernels = AiEtl.Engine.Kernels;
using Apache.Arrow;

namespace AiEtl.Engine.Operators.Aggregation;

/// <summary>
/// Which rows of a batch feed an aggregate: those where the input column is not NULL (none for count(*))
/// and the FILTER column is true. Computed once per batch per distinct (column, filter) pair; a null
/// <see cref="Mask"/> means every row.
/// </summary>
internal sealed unsafe class InputView(int column, int filter) : IDisposable
{
    private readonly NativeArray<byte> _mask = new(1024);

    public int Column { get; } = column;
    public int Filter { get; } = filter;

    /// <summary>1 for included rows, 0 otherwise; null when every row of the batch is included.</summary>
    public byte* Mask { get; private set; }

    public void Prepare(Batch batch)
    {
        var n = batch.Length;
        var col = Column >= 0 ? batch.Column(Column) : null;
        var colNulls = col != null && col.NullCount > 0;
        if (!colNulls && Filter < 0)
        {
            Mask = null;
            return;
        }
        _mask.EnsureCapacity(n);
        var m = _mask.P;
        if (colNulls)
        {
            var bits = col!.Data.Buffers[0].Span;
            var off = col.Data.Offset;
            for (var i = 0; i < n; i++) m[i] = Kernels.Gather.IsValid(bits, off, i) ? (byte)1 : (byte)0;
        }
        else
        {
            new Span<byte>(m, n).Fill(1);
        }
        if (Filter >= 0)
        {
            var f = batch.Column(Filter);
            var valid = f.Data.Buffers[0].Span;
            var values = f.Data.Buffers[1].Span;
            var off = f.Data.Offset;
            for (var i = 0; i < n; i++)
            {
                var j = i + off;
                var on = (values[j >> 3] & (1 << (j & 7))) != 0 && Kernels.Gather.IsValid(valid, off, i);
                if (!on) m[i] = 0;
            }
        }
        Mask = m;
    }

    public void Dispose() => _mask.Dispose();
}

/// <summary>Arguments of one vectorized update: pair j adds input row <c>Rows[j]</c> to group <c>Groups[j]</c>.</summary>
internal readonly unsafe struct UpdateArgs(Batch batch, int* rows, int* groups, int count)
{
    public readonly Batch Batch = batch;
    public readonly int* Rows = rows;
    public readonly int* Groups = groups;
    public readonly int Count = count;
}

/// <summary>
/// Per-group state of one aggregate input, struct-of-arrays over group ids. Updated a batch at a time in a
/// tight loop; merged (sessions), written and read (checkpoints) a group at a time.
/// </summary>
internal abstract class AggState : IDisposable
{
    protected AggState(InputView view) => View = view;

    public InputView View { get; }

    /// <summary>Makes room for group ids below <paramref name="capacity"/>.</summary>
    public abstract void EnsureCapacity(int capacity);
    public abstract void Init(int g);
    public abstract void Update(in UpdateArgs a);
    /// <summary>Adds the state of <paramref name="src"/> into <paramref name="dst"/>; <paramref name="src"/> is freed afterwards.</summary>
    public abstract void Merge(int dst, int src);
    /// <summary>Releases what the group holds (string references, sets).</summary>
    public virtual void Free(int g)
    {
    }
    public abstract void Write(BinaryWriter w, int g);
    public abstract void Read(BinaryReader r, int g);
    public abstract void Dispose();

    /// <summary>
    /// Orders float64 as a signed integer: IEEE total order (so -0 sorts just below +0 and min/max do not
    /// depend on arrival order), every NaN one value above +∞ as in PostgreSQL and DuckDB.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long DoubleOrderKey(double d)
    {
        if (double.IsNaN(d)) return long.MaxValue;
        var b = BitConverter.DoubleToInt64Bits(d);
        return b >= 0 ? b : b ^ long.MaxValue;
    }

    public static double FromDoubleOrderKey(long k) =>
        k == long.MaxValue ? double.NaN : BitConverter.Int64BitsToDouble(k >= 0 ? k : k ^ long.MaxValue);

    /// <summary>Equality bits of a float64 for grouping and DISTINCT: -0 = 0, every NaN is one value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long DoubleKey(double d)
    {
        if (double.IsNaN(d)) return 0x7FF8_0000_0000_0000L;
        if (d == 0) return 0;
        return BitConverter.DoubleToInt64Bits(d);
    }

    /// <summary>How many pairs ahead the update loops prefetch the group they will touch.</summary>
    protected const int Ahead = 16;

    /// <summary>Prefetches <c>p[groups[j + Ahead]]</c>: group ids are random, so misses overlap instead of queueing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static unsafe void PrefetchAhead<T>(T* p, int* groups, int j, int n) where T : unmanaged
    {
        if (Sse.IsSupported && j + Ahead < n) Sse.Prefetch0(p + groups[j + Ahead]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Bit(ReadOnlySpan<byte> bits, int offset, int i)
    {
        var j = i + offset;
        return (bits[j >> 3] & (1 << (j & 7))) != 0;
    }
}

/// <summary>Rows counted per group (count(*), count(x), and the "any value?" of sum/min/max/avg).</summary>
internal sealed unsafe class CountState(InputView view) : AggState(view)
{
    private readonly NativeArray<long> _count = new(1024);

    public long this[int g] => _count.P[g];

    public override void EnsureCapacity(int capacity) => _count.EnsureCapacity(capacity);
    public override void Init(int g) => _count.P[g] = 0;

    public override void Update(in UpdateArgs a)
    {
        var c = _count.P;
        var grp = a.Groups;
        var mask = View.Mask;
        var n = a.Count;
        if (mask == null)
        {
            for (var j = 0; j < n; j++)
            {
                PrefetchAhead(c, grp, j, n);
                c[grp[j]]++;
            }
            return;
        }
        var rows = a.Rows;
        for (var j = 0; j < n; j++)
        {
            PrefetchAhead(c, grp, j, n);
            c[grp[j]] += mask[rows[j]];
        }
    }

    public override void Merge(int dst, int src) => _count.P[dst] += _count.P[src];
    public override void Write(BinaryWriter w, int g) => w.Write(_count.P[g]);
    public override void Read(BinaryReader r, int g) => _count.P[g] = r.ReadInt64();
    public override void Dispose() => _count.Dispose();
}

/// <summary>
/// Exact integer sum as a 128-bit value <c>lo + hi·2⁶⁴</c>: the hot loop adds into <c>lo</c> and only touches
/// <c>hi</c> when that add wraps, so an intermediate overflow that comes back into range is still exact,
/// and the result overflows int64 exactly when <c>hi ≠ 0</c> at the end (whatever the order of rows).
/// </summary>
internal sealed unsafe class SumIntState(InputView view, ColumnKind kind) : AggState(view)
{
    private readonly NativeArray<long> _lo = new(1024);
    private readonly NativeArray<long> _hi = new(1024);

    public bool Overflows(int g) => _hi.P[g] != 0;
    public long Value(int g) => _lo.P[g];
    public Int128 Exact(int g) => (Int128)_lo.P[g] + ((Int128)_hi.P[g] << 64);

    public override void EnsureCapacity(int capacity)
    {
        _lo.EnsureCapacity(capacity);
        _hi.EnsureCapacity(capacity);
    }

    public override void Init(int g)
    {
        _lo.P[g] = 0;
        _hi.P[g] = 0;
    }

    public override void Update(in UpdateArgs a)
    {
        var col = a.Batch.Column(View.Column);
        if (kind == ColumnKind.Int32)
        {
            fixed (int* v = Kernels.Gather.Values<int>(col)) Add(v, a);
        }
        else
        {
            fixed (long* v = Kernels.Gather.Values<long>(col)) Add(v, a);
        }
    }

    private void Add<T>(T* v, in UpdateArgs a) where T : unmanaged
    {
        var lo = _lo.P;
        var hi = _hi.P;
        var grp = a.Groups;
        var rows = a.Rows;
        var mask = View.Mask;
        var n = a.Count;
        for (var j = 0; j < n; j++)
        {
            PrefetchAhead(lo, grp, j, n);
            var r = rows[j];
            if (mask != null && mask[r] == 0) continue;
            var g = grp[j];
            long b = typeof(T) == typeof(int) ? *(int*)(v + r) : *(long*)(v + r);
            var s = lo[g];
            var sum = unchecked(s + b);
            lo[g] = sum;
            if (((s ^ sum) & (b ^ sum)) < 0) hi[g] += b < 0 ? -1 : 1;
        }
    }

    public override void Merge(int dst, int src)
    {
        var s = Exact(dst) + Exact(src);
        var lo = unchecked((long)(ulong)(s & ulong.MaxValue));
        _lo.P[dst] = lo;
        _hi.P[dst] = (long)((s - lo) >> 64);
    }

    public override void Write(BinaryWriter w, int g)
    {
        w.Write(_lo.P[g]);
        w.Write(_hi.P[g]);
    }

    public override void Read(BinaryReader r, int g)
    {
        _lo.P[g] = r.ReadInt64();
        _hi.P[g] = r.ReadInt64();
    }

    public override void Dispose()
    {
        _lo.Dispose();
        _hi.Dispose();
    }
}

/// <summary>Float64 sum (IEEE, in arrival order).</summary>
internal sealed unsafe class SumFloatState(InputView view) : AggState(view)
{
    private readonly NativeArray<double> _sum = new(1024);

    public double this[int g] => _sum.P[g];

    public override void EnsureCapacity(int capacity) => _sum.EnsureCapacity(capacity);
    public override void Init(int g) => _sum.P[g] = 0;

    public override void Update(in UpdateArgs a)
    {
        var s = _sum.P;
        var grp = a.Groups;
        var rows = a.Rows;
        var mask = View.Mask;
        var n = a.Count;
        fixed (double* v = Kernels.Gather.Values<double>(a.Batch.Column(View.Column)))
        {
            if (mask == null)
            {
                for (var j = 0; j < n; j++)
                {
                    PrefetchAhead(s, grp, j, n);
                    s[grp[j]] += v[rows[j]];
                }
                return;
            }
            for (var j = 0; j < n; j++)
            {
                PrefetchAhead(s, grp, j, n);
                var r = rows[j];
                if (mask[r] != 0) s[grp[j]] += v[r];
            }
        }
    }

    public override void Merge(int dst, int src) => _sum.P[dst] += _sum.P[src];
    public override void Write(BinaryWriter w, int g) => w.Write(_sum.P[g]);
    public override void Read(BinaryReader r, int g) => _sum.P[g] = r.ReadDouble();
    public override void Dispose() => _sum.Dispose();
}

/// <summary>
/// min/max of a fixed-width column, held as an order-preserving int64 (int32, int64, date, timestamp as is;
/// bool as 0/1; float64 through <see cref="AggState.DoubleOrderKey"/>). Whether a group has a value at
/// all is its <see cref="CountState"/>'s business.
/// </summary>
internal sealed unsafe class MinMaxState(InputView view, ColumnKind kind, bool max) : AggState(view)
{
    private readonly NativeArray<long> _v = new(1024);

    public ColumnKind Kind => kind;
    public long this[int g] => _v.P[g];

    public override void EnsureCapacity(int capacity) => _v.EnsureCapacity(capacity);
    public override void Init(int g) => _v.P[g] = max ? long.MinValue : long.MaxValue;

    public override void Update(in UpdateArgs a)
    {
        var col = a.Batch.Column(View.Column);
        switch (kind)
        {
            case ColumnKind.Int32 or ColumnKind.Date:
                fixed (int* v = Kernels.Gather.Values<int>(col)) Loop(v, a);
                break;
            case ColumnKind.Int64 or ColumnKind.Timestamp:
                fixed (long* v = Kernels.Gather.Values<long>(col)) Loop(v, a);
                break;
            case ColumnKind.Float64:
                fixed (double* v = Kernels.Gather.Values<double>(col)) Loop(v, a);
                break;
            case ColumnKind.Bool:
            {
                var bits = col.Data.Buffers[1].Span;
                var off = col.Data.Offset;
                var cur = _v.P;
                var mask = View.Mask;
                for (var j = 0; j < a.Count; j++)
                {
                    var r = a.Rows[j];
                    if (mask != null && mask[r] == 0) continue;
                    Take(cur, a.Groups[j], Bit(bits, off, r) ? 1 : 0);
                }
                break;
            }
            default:
                throw new NotSupportedException(kind.ToString());
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Take(long* cur, int g, long v)
    {
        if (max ? v > cur[g] : v < cur[g]) cur[g] = v;
    }

    private void Loop<T>(T* v, in UpdateArgs a) where T : unmanaged
    {
        var cur = _v.P;
        var grp = a.Groups;
        var rows = a.Rows;
        var mask = View.Mask;
        var n = a.Count;
        for (var j = 0; j < n; j++)
        {
            PrefetchAhead(cur, grp, j, n);
            var r = rows[j];
            if (mask != null && mask[r] == 0) continue;
            long x;
            if (typeof(T) == typeof(int)) x = *(int*)(v + r);
            else if (typeof(T) == typeof(long)) x = *(long*)(v + r);
            else x = DoubleOrderKey(*(double*)(v + r));
            Take(cur, grp[j], x);
        }
    }

    public override void Merge(int dst, int src) => Take(_v.P, dst, _v.P[src]);
    public override void Write(BinaryWriter w, int g) => w.Write(_v.P[g]);
    public override void Read(BinaryReader r, int g) => _v.P[g] = r.ReadInt64();
    public override void Dispose() => _v.Dispose();

    /// <summary>Writes the values of groups <c>ids[0..n)</c> in the column's own type (bool: bits) to <paramref name="dst"/>.</summary>
    public void GatherValues(int* ids, int n, byte* dst)
    {
        var cur = _v.P;
        switch (kind)
        {
            case ColumnKind.Int32 or ColumnKind.Date:
                for (var i = 0; i < n; i++) ((int*)dst)[i] = (int)cur[ids[i]];
                break;
            case ColumnKind.Int64 or ColumnKind.Timestamp:
                for (var i = 0; i < n; i++) ((long*)dst)[i] = cur[ids[i]];
                break;
            case ColumnKind.Float64:
                for (var i = 0; i < n; i++) ((double*)dst)[i] = FromDoubleOrderKey(cur[ids[i]]);
                break;
            case ColumnKind.Bool:
                new Span<byte>(dst, (n + 7) / 8).Clear();
                for (var i = 0; i < n; i++)
                    if (cur[ids[i]] == 1) dst[i >> 3] |= (byte)(1 << (i & 7));
                break;
            default:
                throw new NotSupportedException(kind.ToString());
        }
    }
}

/// <summary>min/max of a string column (UTF-8 byte order = code point order), as an interned id (-1 = none).</summary>
internal sealed unsafe class MinMaxStringState(InputView view, StringPool pool, bool max) : AggState(view)
{
    private readonly NativeArray<int> _id = new(1024);

    public int this[int g] => _id.P[g];

    public override void EnsureCapacity(int capacity) => _id.EnsureCapacity(capacity);
    public override void Init(int g) => _id.P[g] = -1;

    public override void Update(in UpdateArgs a)
    {
        var s = (StringArray)a.Batch.Column(View.Column);
        var ids = _id.P;
        var mask = View.Mask;
        for (var j = 0; j < a.Count; j++)
        {
            var r = a.Rows[j];
            if (mask != null && mask[r] == 0) continue;
            Offer(ids, a.Groups[j], s.GetBytes(r));
        }
    }

    private void Offer(int* ids, int g, ReadOnlySpan<byte> value)
    {
        var cur = ids[g];
        if (cur >= 0)
        {
            var c = value.SequenceCompareTo(pool.Get(cur));
            if (max ? c <= 0 : c >= 0) return;
        }
        ids[g] = pool.Intern(value);
        if (cur >= 0) pool.Release(cur);
    }

    public override void Merge(int dst, int src)
    {
        var s = _id.P[src];
        if (s >= 0) Offer(_id.P, dst, pool.Get(s));
    }

    public override void Free(int g)
    {
        var id = _id.P[g];
        if (id >= 0) pool.Release(id);
        _id.P[g] = -1;
    }

    public override void Write(BinaryWriter w, int g)
    {
        var id = _id.P[g];
        w.Write(id >= 0);
        if (id < 0) return;
        var bytes = pool.Get(id);
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    public override void Read(BinaryReader r, int g)
    {
        _id.P[g] = -1;
        if (!r.ReadBoolean()) return;
        var bytes = r.ReadBytes(r.ReadInt32());
        _id.P[g] = pool.Intern(bytes);
    }

    public override void Dispose() => _id.Dispose();
}

/// <summary>
/// count(DISTINCT x): an exact hash set of values per group (one allocation per group, none per row).
/// Fixed-width values are stored as their int64 equality key; strings as interned ids.
/// </summary>
internal sealed class DistinctState(InputView view, ColumnKind kind, StringPool pool) : AggState(view)
{
    private HashSet<long>?[] _sets = new HashSet<long>?[1024];

    public long Count(int g) => _sets[g]?.Count ?? 0;

    public override void EnsureCapacity(int capacity)
    {
        if (capacity > _sets.Length) System.Array.Resize(ref _sets, Math.Max(capacity, _sets.Length * 2));
    }

    public override void Init(int g) => _sets[g] = null;

    public override void Update(in UpdateArgs a)
    {
        var col = a.Batch.Column(View.Column);
        var sets = _sets;
        unsafe
        {
            var mask = View.Mask;
            var rows = a.Rows;
            var grp = a.Groups;
            switch (kind)
            {
                case ColumnKind.String:
                {
                    var s = (StringArray)col;
                    for (var j = 0; j < a.Count; j++)
                    {
                        var r = rows[j];
                        if (mask != null && mask[r] == 0) continue;
                        var id = pool.Intern(s.GetBytes(r));
                        if (!(sets[grp[j]] ??= []).Add(id)) pool.Release(id);
                    }
                    break;
                }
                case ColumnKind.Bool:
                {
                    var bits = col.Data.Buffers[1].Span;
                    var off = col.Data.Offset;
                    for (var j = 0; j < a.Count; j++)
                    {
                        var r = rows[j];
                        if (mask != null && mask[r] == 0) continue;
                        (sets[grp[j]] ??= []).Add(Bit(bits, off, r) ? 1 : 0);
                    }
                    break;
                }
                default:
                {
                    var width = ColumnTypes.FixedWidth(kind);
                    var ints = width == 4 ? Kernels.Gather.Values<int>(col) : default;
                    var longs = width == 8 ? Kernels.Gather.Values<long>(col) : default;
                    for (var j = 0; j < a.Count; j++)
                    {
                        var r = rows[j];
                        if (mask != null && mask[r] == 0) continue;
                        var v = width == 4 ? ints[r] : kind == ColumnKind.Float64 ? DoubleKey(BitConverter.Int64BitsToDouble(longs[r])) : longs[r];
                        (sets[grp[j]] ??= []).Add(v);
                    }
                    break;
                }
            }
        }
    }

    public override void Merge(int dst, int src)
    {
        var from = _sets[src];
        if (from == null) return;
        var to = _sets[dst] ??= [];
        foreach (var v in from)
            if (to.Add(v) && kind == ColumnKind.String) pool.AddRef((int)v);
    }

    public override void Free(int g)
    {
        var set = _sets[g];
        if (set != null && kind == ColumnKind.String)
            foreach (var id in set) pool.Release((int)id);
        _sets[g] = null;
    }

    public override void Write(BinaryWriter w, int g)
    {
        var set = _sets[g];
        w.Write(set?.Count ?? 0);
        if (set == null) return;
        foreach (var v in set)
        {
            if (kind != ColumnKind.String)
            {
                w.Write(v);
                continue;
            }
            var bytes = pool.Get((int)v);
            w.Write(bytes.Length);
            w.Write(bytes);
        }
    }

    public override void Read(BinaryReader r, int g)
    {
        var n = r.ReadInt32();
        _sets[g] = null;
        if (n == 0) return;
        var set = _sets[g] = new HashSet<long>(n);
        for (var i = 0; i < n; i++)
            set.Add(kind == ColumnKind.String ? pool.Intern(r.ReadBytes(r.ReadInt32())) : r.ReadInt64());
    }

    public override void Dispose()
    {
        for (var g = 0; g < _sets.Length; g++) Free(g);
    }
}

/// <summary>approx_count_distinct(x): a <see cref="HyperLogLog"/> per group (allocated at the group's first value).</summary>
internal sealed class HllState(InputView view, ColumnKind kind) : AggState(view)
{
    private HyperLogLog?[] _sketches = new HyperLogLog?[1024];

    public long Estimate(int g) => _sketches[g]?.Estimate() ?? 0;

    public override void EnsureCapacity(int capacity)
    {
        if (capacity > _sketches.Length) System.Array.Resize(ref _sketches, Math.Max(capacity, _sketches.Length * 2));
    }

    public override void Init(int g) => _sketches[g] = null;

    public override void Update(in UpdateArgs a)
    {
        var col = a.Batch.Column(View.Column);
        var sk = _sketches;
        unsafe
        {
            var mask = View.Mask;
            var rows = a.Rows;
            var grp = a.Groups;
            switch (kind)
            {
                case ColumnKind.String:
                {
                    var s = (StringArray)col;
                    for (var j = 0; j < a.Count; j++)
                    {
                        var r = rows[j];
                        if (mask != null && mask[r] == 0) continue;
                        (sk[grp[j]] ??= new HyperLogLog()).Add(StringPool.Hash(s.GetBytes(r)));
                    }
                    break;
                }
                case ColumnKind.Bool:
                {
                    var bits = col.Data.Buffers[1].Span;
                    var off = col.Data.Offset;
                    for (var j = 0; j < a.Count; j++)
                    {
                        var r = rows[j];
                        if (mask != null && mask[r] == 0) continue;
                        (sk[grp[j]] ??= new HyperLogLog()).Add(HyperLogLog.HashLong(Bit(bits, off, r) ? 1 : 0));
                    }
                    break;
                }
                default:
                {
                    var width = ColumnTypes.FixedWidth(kind);
                    var ints = width == 4 ? Kernels.Gather.Values<int>(col) : default;
                    var longs = width == 8 ? Kernels.Gather.Values<long>(col) : default;
                    for (var j = 0; j < a.Count; j++)
                    {
                        var r = rows[j];
                        if (mask != null && mask[r] == 0) continue;
                        var v = width == 4 ? ints[r] : kind == ColumnKind.Float64 ? DoubleKey(BitConverter.Int64BitsToDouble(longs[r])) : longs[r];
                        (sk[grp[j]] ??= new HyperLogLog()).Add(HyperLogLog.HashLong(v));
                    }
                    break;
                }
            }
        }
    }

    public override void Merge(int dst, int src)
    {
        var from = _sketches[src];
        if (from != null) (_sketches[dst] ??= new HyperLogLog()).Merge(from);
    }

    public override void Free(int g) => _sketches[g] = null;

    public override void Write(BinaryWriter w, int g)
    {
        var s = _sketches[g];
        w.Write(s != null);
        s?.Write(w);
    }

    public override void Read(BinaryReader r, int g) => _sketches[g] = r.ReadBoolean() ? HyperLogLog.Read(r) : null;

    public override void Dispose() => System.Array.Clear(_sketches);
}
