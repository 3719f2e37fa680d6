using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kernels;
using Apache.Arrow;

namespace AiEtl.Engine.Expressions;

/// <summary>
/// An interval value: a count of calendar months (<see cref="Months"/>, null for none) and an int64 count of
/// microseconds (<see cref="Micros"/>; a day is 24 hours, timestamps being UTC). INTERVAL literals, <c>ts − ts</c>
/// and interval arithmetic produce it. Compared, and as an output column, it is one int64 of microseconds with a
/// month counted as 30 days (<see cref="Total"/>, PostgreSQL's interval ordering).
/// </summary>
public sealed class IntervalVExpr(VExpr micros, string? text, VExpr? months = null) : VExpr
{
    private VExpr? _total;
    public VExpr Micros => micros;
    public VExpr? Months => months;
    public override ColumnKind Kind => ColumnKind.Int64;
    public override string Describe() => text ?? (months == null ? micros.Describe() : $"interval({months.Describe()} months, {micros.Describe()} µs)");

    /// <summary>The interval as microseconds, a month counted as 30 days.</summary>
    public VExpr Total => _total ??= months == null ? micros
        : new ArithVExpr("+", new ArithVExpr("*", Binder.Conform(months, ColumnKind.Int64, 0), new LiteralVExpr(DateTimeKernels.MicrosPerMonth, ColumnKind.Int64), ColumnKind.Int64), micros, ColumnKind.Int64);

    public override IArrowArray Eval(EvalContext ctx) => Total.Eval(ctx);
}

/// <summary>
/// <c>ts ± interval</c> where the interval has months: the months first (the day of month clamped to the end of the
/// target month, so 2024-01-31 + 1 month = 2024-02-29), then the fixed part, as PostgreSQL does.
/// </summary>
public sealed class AddMonthsVExpr(VExpr ts, VExpr months, VExpr micros, bool subtract) : VExpr
{
    public override ColumnKind Kind => ColumnKind.Timestamp;
    public override string Describe() => $"({ts.Describe()} {(subtract ? "-" : "+")} interval({months.Describe()} months, {micros.Describe()} µs))";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var t = IntCol.Of(ts, ctx);
        var m = IntCol.Of(months, ctx);
        var us = IntCol.Of(micros, ctx);
        var o = new FixedOut<long>(ctx.Assembler, ColumnKind.Timestamp, n);
        for (var i = 0; i < n; i++)
        {
            if (t.IsNull(i) || m.IsNull(i) || us.IsNull(i)) { o.Null(i); continue; }
            if (DateTimeKernels.TryAddMonths(t.Get(i), m.Get(i), us.Get(i), subtract, out var r)) o.Set(i, r);
            else
            {
                ctx.Errors.Add(i, DateTimeKernels.TsRange);
                o.Null(i);
            }
        }
        return o.Finish();
    }
}

/// <summary>Checks that every non-null result lies in [min, max] (else a row error) and relabels the array's type.</summary>
public sealed class RangeVExpr(VExpr inner, ColumnKind kind, long min, long max, string message) : VExpr
{
    public override ColumnKind Kind => kind;
    public override string Describe() => inner.Describe();

    public override IArrowArray Eval(EvalContext ctx)
    {
        var a = inner.Eval(ctx);
        var valid = Bits.Validity(a, ctx.Assembler);
        if (ColumnTypes.FixedWidth(kind) == 4)
        {
            var v = Gather.Values<int>(a);
            for (var i = 0; i < v.Length; i++)
                if ((v[i] < min || v[i] > max) && Bits.Get(valid, i)) ctx.Errors.Add(i, message);
        }
        else
        {
            var v = Gather.Values<long>(a);
            for (var i = 0; i < v.Length; i++)
                if ((v[i] < min || v[i] > max) && Bits.Get(valid, i)) ctx.Errors.Add(i, message);
        }
        return DateTimeKernels.Retype(a, kind);
    }
}

/// <summary>Timestamp and date helpers shared by the date/time functions.</summary>
internal static class DateTimeKernels
{
    public const long MicrosPerSecond = 1_000_000;
    public const long MicrosPerDay = 86_400_000_000;
    /// <summary>0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: the range timestamps can be formatted in.</summary>
    public const long MinTs = -62_135_596_800_000_000, MaxTs = 253_402_300_799_999_999;
    public const long MinDate = -719_162, MaxDate = 2_932_896;
    public const string TsRange = "timestamp out of range (0001-01-01 to 9999-12-31)";
    public const string DateRange = "date out of range (0001-01-01 to 9999-12-31)";

    public static IArrowArray Retype(IArrowArray a, ColumnKind kind)
    {
        if (ColumnTypes.FromArrow(a.Data.DataType) == kind) return a;
        var d = a.Data;
        return ArrowArrayFactory.BuildArray(new ArrayData(ColumnTypes.ToArrow(kind), d.Length, d.NullCount, d.Offset, d.Buffers));
    }

    public const long MicrosPerMonth = 30 * MicrosPerDay;

    public static VExpr Shift(VExpr ts, string op, VExpr interval) =>
        interval is IntervalVExpr { Months: { } months } iv ? new AddMonthsVExpr(ts, months, iv.Micros, op == "-")
        : new RangeVExpr(new ArithVExpr(op, ts, interval, ColumnKind.Int64), ColumnKind.Timestamp, MinTs, MaxTs, TsRange);

    /// <summary>u ± (months, micros): months first with the day clamped to the month's end, then micros; false when out of range.</summary>
    public static bool TryAddMonths(long u, long months, long micros, bool subtract, out long result)
    {
        result = 0;
        if (!InRange(u) || months == long.MinValue || micros == long.MinValue) return false;
        if (subtract) { months = -months; micros = -micros; }
        var dt = ToDateTime(u);
        var index = (long)dt.Year * 12 + dt.Month - 1;
        if (months > 12 * 10_000L || months < -12 * 10_000L) return false;
        index += months;
        if (index < 12 || index > 9999 * 12 + 11) return false;
        int year = (int)(index / 12), month = (int)(index % 12) + 1;
        var day = Math.Min(dt.Day, DateTime.DaysInMonth(year, month));
        var shifted = FromDateTime(new DateTime(year, month, day, 0, 0, 0, DateTimeKind.Utc)) + (u - FloorDiv(u, MicrosPerDay) * MicrosPerDay);
        if (micros > MaxTs - MinTs || micros < MinTs - MaxTs) return false;
        result = shifted + micros;
        return InRange(result);
    }

    /// <summary>Seconds in an interval as PostgreSQL's extract(epoch) counts them: a year is 365.25 days, other months 30.</summary>
    public static double EpochSeconds(long months, long micros) =>
        micros / 1e6 + 365.25 * 86400 * (months / 12) + 30.0 * 86400 * (months % 12);

    public static VExpr ShiftDays(VExpr date, string op, VExpr days) =>
        new RangeVExpr(new ArithVExpr(op, date, days, ColumnKind.Date), ColumnKind.Date, MinDate, MaxDate, DateRange);

    /// <summary>interval × number or interval ÷ number, rounded to the microsecond (half to even); with months only × an integer.</summary>
    public static VExpr ScaleInterval(VExpr interval, string op, VExpr number, int pos)
    {
        var iv = (IntervalVExpr)interval;
        var micros = iv.Micros;
        if (iv.Months is { } months)
        {
            if (op != "*" || number.Kind is not (ColumnKind.Int32 or ColumnKind.Int64))
                throw new ExpressionException($"an interval with months can only be multiplied by an integer (a month has no fixed length), not {(op == "*" ? "by a " + ColumnTypes.Name(number.Kind) : "divided")}", pos);
            var factor = Binder.Conform(number, ColumnKind.Int64, 0);
            return new IntervalVExpr(new ArithVExpr("*", micros, factor, ColumnKind.Int64), null,
                new ArithVExpr("*", Binder.Conform(months, ColumnKind.Int64, 0), factor, ColumnKind.Int64));
        }
        if (op == "*" && number.Kind is ColumnKind.Int32 or ColumnKind.Int64)
            return new IntervalVExpr(new ArithVExpr("*", micros, Binder.Conform(number, ColumnKind.Int64, 0), ColumnKind.Int64), null);
        var product = new ArithVExpr(op, Binder.Conform(micros, ColumnKind.Float64, 0), Binder.Conform(number, ColumnKind.Float64, 0), ColumnKind.Float64);
        return new IntervalVExpr(new CastVExpr(product, ColumnKind.Int64), null);
    }

    public static long FloorDiv(long a, long b)
    {
        var q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
    }

    public static DateTime ToDateTime(long micros) => new(DateTime.UnixEpoch.Ticks + micros * 10, DateTimeKind.Utc);

    public static long FromDateTime(DateTime dt) => (dt.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    public static bool InRange(long micros) => micros is >= MinTs and <= MaxTs;

    /// <summary>UTC offset of <paramref name="tz"/> at the instant <paramref name="utcMicros"/>, in microseconds.</summary>
    public static long Offset(TimeZoneInfo tz, long utcMicros)
    {
        var clamped = Math.Clamp(utcMicros, MinTs + MicrosPerDay, MaxTs - MicrosPerDay);
        return tz.GetUtcOffset(ToDateTime(clamped)).Ticks / 10;
    }

    /// <summary>
    /// The instant of a local wall-clock time, as PostgreSQL resolves it: in a gap (spring forward) the offset
    /// before the transition applies; an ambiguous time (fall back) takes the offset after it.
    /// </summary>
    public static long LocalToUtc(TimeZoneInfo tz, long local)
    {
        var before = Offset(tz, local - MicrosPerDay);
        var after = Offset(tz, local + MicrosPerDay);
        var c1 = local - before;
        var c2 = local - after;
        // Valid with the later offset (unambiguous, or ambiguous: the later offset wins) → c2; valid only
        // with the earlier offset, or in a gap → the earlier offset.
        return Offset(tz, c2) == after ? c2 : c1;
    }

    private static readonly Dictionary<string, string> FieldAliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["y"] = "year", ["yr"] = "year", ["yrs"] = "year", ["years"] = "year",
        ["mon"] = "month", ["mons"] = "month", ["months"] = "month",
        ["d"] = "day", ["days"] = "day",
        ["h"] = "hour", ["hr"] = "hour", ["hrs"] = "hour", ["hours"] = "hour",
        ["m"] = "minute", ["min"] = "minute", ["mins"] = "minute", ["minutes"] = "minute",
        ["s"] = "second", ["sec"] = "second", ["secs"] = "second", ["seconds"] = "second",
        ["ms"] = "millisecond", ["msec"] = "millisecond", ["msecs"] = "millisecond", ["milliseconds"] = "millisecond", ["millisecon"] = "millisecond",
        ["us"] = "microsecond", ["usec"] = "microsecond", ["usecs"] = "microsecond", ["microseconds"] = "microsecond", ["microsecon"] = "microsecond",
        ["w"] = "week", ["weeks"] = "week", ["qtr"] = "quarter", ["quarters"] = "quarter",
        ["decades"] = "decade", ["centuries"] = "century", ["millennia"] = "millennium", ["millenniums"] = "millennium",
    };

    public static string NormalizeField(string field)
    {
        var f = field.Trim().ToLowerInvariant();
        return FieldAliases.TryGetValue(f, out var canonical) ? canonical : f;
    }
}

/// <summary>extract(epoch FROM interval): seconds as float64.</summary>
public sealed class EpochOfIntervalVExpr(IntervalVExpr interval) : VExpr
{
    public override ColumnKind Kind => ColumnKind.Float64;
    public override string Describe() => $"extract(epoch FROM {interval.Describe()})";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var v = IntCol.Of(interval.Micros, ctx);
        var o = new FixedOut<double>(ctx.Assembler, ColumnKind.Float64, n);
        if (interval.Months is { } monthsExpr)
        {
            var m = IntCol.Of(monthsExpr, ctx);
            for (var i = 0; i < n; i++)
                if (v.IsNull(i) || m.IsNull(i)) o.Null(i); else o.Set(i, DateTimeKernels.EpochSeconds(m.Get(i), v.Get(i)));
            return o.Finish();
        }
        for (var i = 0; i < n; i++)
            if (v.IsNull(i)) o.Null(i); else o.Set(i, v.Get(i) / 1e6);
        return o.Finish();
    }
}

/// <summary>
/// extract(field FROM ts) and date_part('field', ts) on UTC timestamps. extract gives int64 for whole-number
/// fields and float64 for second, millisecond and epoch (PostgreSQL's numeric has fractions there);
/// date_part always gives float64 (PostgreSQL's double precision).
/// </summary>
public sealed class ExtractVExpr : VExpr
{
    private static readonly HashSet<string> DateFields = ["year", "quarter", "month", "week", "day", "dow", "isodow", "doy", "isoyear", "epoch", "decade", "century", "millennium"];
    private static readonly HashSet<string> TimeFields = ["hour", "minute", "second", "millisecond", "microsecond"];
    private readonly string _field;
    private readonly VExpr _ts;
    private readonly bool _asDouble;
    private readonly ColumnKind _kind;

    private ExtractVExpr(string field, VExpr ts, bool asDouble, ColumnKind kind)
    {
        _field = field;
        _ts = ts;
        _asDouble = asDouble;
        _kind = kind;
    }

    public static ExtractVExpr Create(string field, VExpr ts, bool asDouble, bool fromDate, int pos)
    {
        var f = DateTimeKernels.NormalizeField(field);
        if (!DateFields.Contains(f) && !TimeFields.Contains(f))
            throw new ExpressionException($"unit \"{field}\" not recognized for type {(fromDate ? "date" : "timestamp")} (fields: {string.Join(", ", DateFields.Concat(TimeFields).Order(StringComparer.Ordinal))})", pos);
        if (fromDate && !DateFields.Contains(f))
            throw new ExpressionException($"unit \"{field}\" not supported for type date", pos);
        var kind = asDouble || f is "second" or "millisecond" or "epoch" ? ColumnKind.Float64 : ColumnKind.Int64;
        return new ExtractVExpr(f, ts, asDouble, kind);
    }

    public override ColumnKind Kind => _kind;
    public override string Describe() => _asDouble ? $"date_part('{_field}', {_ts.Describe()})" : $"extract({_field} FROM {_ts.Describe()})";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var ts = IntCol.Of(_ts, ctx);
        if (_kind == ColumnKind.Float64)
        {
            var o = new FixedOut<double>(ctx.Assembler, ColumnKind.Float64, n);
            for (var i = 0; i < n; i++)
            {
                if (ts.IsNull(i)) { o.Null(i); continue; }
                var u = ts.Get(i);
                if (!DateTimeKernels.InRange(u)) { ctx.Errors.Add(i, DateTimeKernels.TsRange); o.Null(i); continue; }
                o.Set(i, Double(u));
            }
            return o.Finish();
        }
        var ol = new FixedOut<long>(ctx.Assembler, ColumnKind.Int64, n);
        for (var i = 0; i < n; i++)
        {
            if (ts.IsNull(i)) { ol.Null(i); continue; }
            var u = ts.Get(i);
            if (!DateTimeKernels.InRange(u)) { ctx.Errors.Add(i, DateTimeKernels.TsRange); ol.Null(i); continue; }
            ol.Set(i, Whole(u));
        }
        return ol.Finish();
    }

    private double Double(long u)
    {
        var microOfMinute = DateTimeKernels.FloorDiv(u, 60 * DateTimeKernels.MicrosPerSecond) * -60 * DateTimeKernels.MicrosPerSecond + u;
        return _field switch
        {
            "second" => microOfMinute / 1e6,
            "millisecond" => microOfMinute / 1e3,
            "epoch" => u / 1e6,
            _ => Whole(u),
        };
    }

    private long Whole(long u)
    {
        var dt = DateTimeKernels.ToDateTime(u);
        var microOfMinute = u - DateTimeKernels.FloorDiv(u, 60 * DateTimeKernels.MicrosPerSecond) * 60 * DateTimeKernels.MicrosPerSecond;
        return _field switch
        {
            "year" => dt.Year,
            "quarter" => (dt.Month - 1) / 3 + 1,
            "month" => dt.Month,
            "day" => dt.Day,
            "hour" => dt.Hour,
            "minute" => dt.Minute,
            "second" => dt.Second,
            "millisecond" => microOfMinute / 1000,
            "microsecond" => microOfMinute,
            "dow" => (int)dt.DayOfWeek,
            "isodow" => dt.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)dt.DayOfWeek,
            "doy" => dt.DayOfYear,
            "week" => ISOWeek.GetWeekOfYear(dt),
            "isoyear" => ISOWeek.GetYear(dt),
            "decade" => dt.Year / 10,
            "century" => (dt.Year + 99) / 100,
            "millennium" => (dt.Year + 999) / 1000,
            "epoch" => DateTimeKernels.FloorDiv(u, DateTimeKernels.MicrosPerSecond),
            _ => throw new InvalidOperationException(_field),
        };
    }
}

/// <summary>Looks up IANA time zones (the system's tzdata); results are cached.</summary>
public static class Zones
{
    private static readonly ConcurrentDictionary<string, TimeZoneInfo?> Cache = new(StringComparer.Ordinal);
    private static readonly Lazy<Dictionary<string, TimeZoneInfo>> ByLowerName = new(() =>
    {
        var d = new Dictionary<string, TimeZoneInfo>(StringComparer.OrdinalIgnoreCase);
        foreach (var z in TimeZoneInfo.GetSystemTimeZones()) d.TryAdd(z.Id, z);
        return d;
    });

    public static bool TryFind(string name, out TimeZoneInfo? zone, out string error)
    {
        error = "";
        zone = Cache.GetOrAdd(name, Lookup);
        if (zone != null) return true;
        error = name.Length > 0 && (name[0] is '+' or '-' || char.IsAsciiDigit(name[0]))
            ? $"time zone '{name}': numeric offsets are not accepted (PostgreSQL reads them POSIX-style, reversed); use an IANA name such as 'Europe/Paris' or 'Etc/GMT-2'"
            : $"unknown time zone '{name}' (use an IANA name such as 'Europe/Paris' or 'UTC'; zones come from the system tzdata)";
        return false;
    }

    private static TimeZoneInfo? Lookup(string name)
    {
        if (name.Length == 0 || name[0] is '+' or '-' || char.IsAsciiDigit(name[0])) return null;
        if (name.Equals("UTC", StringComparison.OrdinalIgnoreCase) || name.Equals("Z", StringComparison.OrdinalIgnoreCase)) return TimeZoneInfo.Utc;
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(name);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            return ByLowerName.Value.TryGetValue(name, out var z) ? z : null;
        }
    }

    /// <summary>Resolves a constant zone name at bind time; an unknown one is a plan-time error.</summary>
    public static TimeZoneInfo Resolve(string name, int pos) =>
        TryFind(name, out var z, out var error) ? z! : throw new ExpressionException(error, pos);
}

/// <summary>Resolves per-row zone names, remembering the last one (rows of a batch usually share a zone).</summary>
internal ref struct ZoneColumn(StrCol names, TimeZoneInfo? constant)
{
    private byte[]? _lastName;
    private TimeZoneInfo? _last;
    private readonly StrCol _names = names;

    public bool IsNull(int i) => constant == null && _names.IsNull(i);

    public TimeZoneInfo? Get(int i, out string error)
    {
        error = "";
        if (constant != null) return constant;
        var bytes = _names.Get(i);
        if (_lastName != null && bytes.SequenceEqual(_lastName)) return _last;
        var name = Encoding.UTF8.GetString(bytes);
        if (!Zones.TryFind(name, out var z, out error)) return null;
        _lastName = bytes.ToArray();
        _last = z;
        return z;
    }
}

/// <summary><c>ts AT TIME ZONE zone</c>: the wall-clock time in that zone, as a timestamp (PostgreSQL: timestamptz → timestamp).</summary>
public sealed class AtTimeZoneVExpr(VExpr ts, VExpr zone, TimeZoneInfo? constant) : VExpr
{
    public override ColumnKind Kind => ColumnKind.Timestamp;
    public override string Describe() => $"({ts.Describe()} AT TIME ZONE {zone.Describe()})";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var t = IntCol.Of(ts, ctx);
        var zones = new ZoneColumn(constant == null ? StrCol.Of(zone, ctx) : default, constant);
        var o = new FixedOut<long>(ctx.Assembler, ColumnKind.Timestamp, n);
        for (var i = 0; i < n; i++)
        {
            if (t.IsNull(i) || zones.IsNull(i)) { o.Null(i); continue; }
            var tz = zones.Get(i, out var error);
            if (tz == null) { ctx.Errors.Add(i, error); o.Null(i); continue; }
            var u = t.Get(i);
            var local = u + DateTimeKernels.Offset(tz, u);
            if (!DateTimeKernels.InRange(u) || !DateTimeKernels.InRange(local)) { ctx.Errors.Add(i, DateTimeKernels.TsRange); o.Null(i); continue; }
            o.Set(i, local);
        }
        return o.Finish();
    }
}

/// <summary>
/// date_trunc(unit, ts [, zone]). With a zone the truncation happens on that zone's wall clock; for day and
/// larger units the result's offset is looked up again (so a day starts at local midnight), as PostgreSQL.
/// </summary>
public sealed class DateTruncVExpr : VExpr
{
    private static readonly string[] Units = ["microsecond", "millisecond", "second", "minute", "hour", "day", "week", "month", "quarter", "year", "decade", "century", "millennium"];
    private readonly string _unit;
    private readonly VExpr _ts;
    private readonly VExpr? _zone;
    private readonly TimeZoneInfo? _tz;

    private DateTruncVExpr(string unit, VExpr ts, VExpr? zone, TimeZoneInfo? tz)
    {
        _unit = unit;
        _ts = ts;
        _zone = zone;
        _tz = tz;
    }

    public static DateTruncVExpr Create(string unit, VExpr ts, VExpr? zone, TimeZoneInfo? tz, int pos)
    {
        var u = DateTimeKernels.NormalizeField(unit);
        if (!Units.Contains(u))
            throw new ExpressionException($"unit \"{unit}\" not recognized for date_trunc (units: {string.Join(", ", Units)})", pos);
        return new DateTruncVExpr(u, ts, zone, tz);
    }

    public override ColumnKind Kind => ColumnKind.Timestamp;
    public override string Describe() => $"date_trunc('{_unit}', {_ts.Describe()}{(_zone != null ? ", " + _zone.Describe() : "")})";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var t = IntCol.Of(_ts, ctx);
        var zones = new ZoneColumn(_zone != null && _tz == null ? StrCol.Of(_zone, ctx) : default, _tz ?? (_zone == null ? TimeZoneInfo.Utc : null));
        var o = new FixedOut<long>(ctx.Assembler, ColumnKind.Timestamp, n);
        for (var i = 0; i < n; i++)
        {
            if (t.IsNull(i) || zones.IsNull(i)) { o.Null(i); continue; }
            var tz = zones.Get(i, out var error);
            if (tz == null) { ctx.Errors.Add(i, error); o.Null(i); continue; }
            var u = t.Get(i);
            if (!DateTimeKernels.InRange(u)) { ctx.Errors.Add(i, DateTimeKernels.TsRange); o.Null(i); continue; }
            var r = Trunc(u, tz);
            if (!DateTimeKernels.InRange(r)) { ctx.Errors.Add(i, DateTimeKernels.TsRange); o.Null(i); continue; }
            o.Set(i, r);
        }
        return o.Finish();
    }

    private long Trunc(long u, TimeZoneInfo tz)
    {
        var utc = ReferenceEquals(tz, TimeZoneInfo.Utc);
        var off = utc ? 0 : DateTimeKernels.Offset(tz, u);
        var local = u + off;
        long step = _unit switch
        {
            "microsecond" => 1,
            "millisecond" => 1000,
            "second" => DateTimeKernels.MicrosPerSecond,
            "minute" => 60 * DateTimeKernels.MicrosPerSecond,
            "hour" => 3600 * DateTimeKernels.MicrosPerSecond,
            _ => 0,
        };
        if (step > 0) return DateTimeKernels.FloorDiv(local, step) * step - off;
        long t;
        var day = DateTimeKernels.FloorDiv(local, DateTimeKernels.MicrosPerDay) * DateTimeKernels.MicrosPerDay;
        var dt = DateTimeKernels.ToDateTime(Math.Clamp(local, DateTimeKernels.MinTs, DateTimeKernels.MaxTs));
        switch (_unit)
        {
            case "day": t = day; break;
            case "week": t = day - ((int)dt.DayOfWeek + 6) % 7 * DateTimeKernels.MicrosPerDay; break;
            case "month": t = DateTimeKernels.FromDateTime(new DateTime(dt.Year, dt.Month, 1, 0, 0, 0, DateTimeKind.Utc)); break;
            case "quarter": t = DateTimeKernels.FromDateTime(new DateTime(dt.Year, (dt.Month - 1) / 3 * 3 + 1, 1, 0, 0, 0, DateTimeKind.Utc)); break;
            case "year": t = DateTimeKernels.FromDateTime(new DateTime(dt.Year, 1, 1, 0, 0, 0, DateTimeKind.Utc)); break;
            case "decade": t = DateTimeKernels.FromDateTime(new DateTime(Math.Max(1, dt.Year / 10 * 10), 1, 1, 0, 0, 0, DateTimeKind.Utc)); break;
            case "century": t = DateTimeKernels.FromDateTime(new DateTime((dt.Year - 1) / 100 * 100 + 1, 1, 1, 0, 0, 0, DateTimeKind.Utc)); break;
            default: t = DateTimeKernels.FromDateTime(new DateTime((dt.Year - 1) / 1000 * 1000 + 1, 1, 1, 0, 0, 0, DateTimeKind.Utc)); break;
        }
        return utc ? t : DateTimeKernels.LocalToUtc(tz, t);
    }
}

/// <summary>to_timestamp(epoch seconds) / from_unixtime(epoch seconds): rounded to the microsecond (half to even).</summary>
public sealed class EpochToTimestampVExpr(string name, VExpr seconds) : VExpr
{
    public override ColumnKind Kind => ColumnKind.Timestamp;
    public override string Describe() => $"{name}({seconds.Describe()})";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var o = new FixedOut<long>(ctx.Assembler, ColumnKind.Timestamp, n);
        if (seconds.Kind is ColumnKind.Int32 or ColumnKind.Int64)
        {
            var s = IntCol.Of(seconds, ctx);
            for (var i = 0; i < n; i++)
            {
                if (s.IsNull(i)) { o.Null(i); continue; }
                var v = s.Get(i);
                if (v < DateTimeKernels.MinTs / DateTimeKernels.MicrosPerSecond || v > DateTimeKernels.MaxTs / DateTimeKernels.MicrosPerSecond)
                {
                    ctx.Errors.Add(i, DateTimeKernels.TsRange);
                    o.Null(i);
                    continue;
                }
                o.Set(i, v * DateTimeKernels.MicrosPerSecond);
            }
            return o.Finish();
        }
        var d = F64Col.Of(seconds, ctx);
        for (var i = 0; i < n; i++)
        {
            if (d.IsNull(i)) { o.Null(i); continue; }
            var micros = Math.Round(d.Get(i) * 1e6, MidpointRounding.ToEven);
            if (!double.IsFinite(micros) || micros < DateTimeKernels.MinTs || micros > DateTimeKernels.MaxTs)
            {
                ctx.Errors.Add(i, DateTimeKernels.TsRange);
                o.Null(i);
                continue;
            }
            o.Set(i, (long)micros);
        }
        return o.Finish();
    }
}

/// <summary>
/// A to_timestamp(text, format) template: YYYY MM DD HH24 HH12 HH MI SS MS US AM PM, "quoted text", and
/// separators (a separator in the template matches any one non-alphanumeric character, or nothing).
/// Fields not in the template default to January 1st, 00:00:00; text after the template is ignored (as PostgreSQL).
/// </summary>
internal sealed class TimestampFormat
{
    private enum T : byte { Year, Month, Day, Hour24, Hour12, Minute, Second, Milli, Micro, Meridiem, Separator, Skip }
    private static readonly (string Text, T Kind, int Width)[] Patterns =
    [
        ("YYYY", T.Year, 4), ("HH24", T.Hour24, 2), ("HH12", T.Hour12, 2), ("HH", T.Hour12, 2), ("MM", T.Month, 2), ("DD", T.Day, 2),
        ("MI", T.Minute, 2), ("SS", T.Second, 2), ("MS", T.Milli, 3), ("US", T.Micro, 6), ("AM", T.Meridiem, 2), ("PM", T.Meridiem, 2),
        ("am", T.Meridiem, 2), ("pm", T.Meridiem, 2),
    ];
    private readonly List<(T Kind, int Width, string Name)> _tokens = [];

    public static TimestampFormat Compile(string format, int pos)
    {
        var f = new TimestampFormat();
        for (var i = 0; i < format.Length;)
        {
            if (format[i] == '"')
            {
                var close = format.IndexOf('"', i + 1);
                if (close < 0) throw new ExpressionException("unterminated quoted text in the to_timestamp format", pos);
                for (var k = i + 1; k < close; k++) f._tokens.Add((T.Skip, 1, "\"…\""));
                i = close + 1;
                continue;
            }
            var matched = false;
            foreach (var (text, kind, width) in Patterns)
            {
                if (string.CompareOrdinal(format, i, text, 0, text.Length) != 0) continue;
                f._tokens.Add((kind, width, text));
                i += text.Length;
                matched = true;
                break;
            }
            if (matched) continue;
            if (char.IsLetterOrDigit(format[i]))
            {
                if (char.IsAsciiLetterUpper(format[i]) && format.Length > i + 1 && char.IsAsciiLetterUpper(format[i + 1]))
                    throw new ExpressionException($"to_timestamp format pattern at '{format[i..]}' is not supported (supported: YYYY MM DD HH24 HH12 HH MI SS MS US AM PM)", pos);
                f._tokens.Add((T.Skip, 1, format[i].ToString()));
            }
            else f._tokens.Add((T.Separator, 1, format[i].ToString()));
            i++;
        }
        if (!f._tokens.Any(t => t.Kind == T.Year)) throw new ExpressionException("the to_timestamp format needs a year (YYYY)", pos);
        return f;
    }

    public bool TryParse(ReadOnlySpan<byte> s, out long micros, out string error)
    {
        micros = 0;
        error = "";
        int year = 1, month = 1, day = 1, hour = 0, minute = 0, second = 0, frac = 0, meridiem = 0;
        var h12 = false;
        var p = 0;
        foreach (var (kind, width, name) in _tokens)
        {
            switch (kind)
            {
                case T.Separator:
                    if (p < s.Length && !char.IsAsciiLetterOrDigit((char)s[p])) p++;
                    continue;
                case T.Skip:
                    if (p < s.Length) p += Utf8Util.SeqLen(s[p]);
                    continue;
                case T.Meridiem:
                    if (p + 2 > s.Length) { error = $"invalid value for \"{name}\": expected AM or PM"; return false; }
                    var a = (char)(s[p] | 0x20);
                    if ((a != 'a' && a != 'p') || (s[p + 1] | 0x20) != 'm') { error = $"invalid value for \"{name}\": expected AM or PM"; return false; }
                    meridiem = a == 'a' ? 1 : 2;
                    p += 2;
                    continue;
            }
            while (p < s.Length && s[p] == ' ') p++;
            var start = p;
            var v = 0;
            while (p < s.Length && p - start < width && s[p] >= '0' && s[p] <= '9') v = v * 10 + (s[p++] - '0');
            if (p == start) { error = $"invalid value for \"{name}\": expected digits"; return false; }
            switch (kind)
            {
                case T.Year: year = v; break;
                case T.Month: month = v; break;
                case T.Day: day = v; break;
                case T.Hour24: hour = v; break;
                case T.Hour12: hour = v; h12 = true; break;
                case T.Minute: minute = v; break;
                case T.Second: second = v; break;
                case T.Milli: frac = v * (int)Math.Pow(10, 3 - (p - start)) * 1000; break;
                case T.Micro: frac = v * (int)Math.Pow(10, 6 - (p - start)); break;
            }
        }
        if (h12 && hour is < 1 or > 12) { error = $"hour \"{hour}\" is invalid for the 12-hour clock"; return false; }
        if (meridiem == 2 && hour < 12) hour += 12;
        else if (meridiem == 1 && hour == 12) hour = 0;
        if (year is < 1 or > 9999 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(Math.Clamp(year, 1, 9999), Math.Clamp(month, 1, 12))
            || hour > 23 || minute > 59 || second > 59)
        {
            error = "date/time field value out of range";
            return false;
        }
        micros = DateTimeKernels.FromDateTime(new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc)) + frac;
        return true;
    }
}

/// <summary>to_timestamp(text, format): a string read with a template, as UTC; a value that does not fit is a row error.</summary>
public sealed class ToTimestampTextVExpr : VExpr
{
    private readonly VExpr _s;
    private readonly string _format;
    private readonly TimestampFormat _compiled;

    internal ToTimestampTextVExpr(VExpr s, string format, TimestampFormat compiled)
    {
        _s = s;
        _format = format;
        _compiled = compiled;
    }

    public override ColumnKind Kind => ColumnKind.Timestamp;
    public override string Describe() => $"to_timestamp({_s.Describe()}, '{_format.Replace("'", "''", StringComparison.Ordinal)}')";

    public override IArrowArray Eval(EvalContext ctx)
    {
        var n = ctx.Length;
        var src = StrCol.Of(_s, ctx);
        var o = new FixedOut<long>(ctx.Assembler, ColumnKind.Timestamp, n);
        for (var i = 0; i < n; i++)
        {
            if (src.IsNull(i)) { o.Null(i); continue; }
            if (_compiled.TryParse(src.Get(i), out var micros, out var error)) o.Set(i, micros);
            else
            {
                ctx.Errors.Add(i, $"cannot cast to timestamp with to_timestamp: {error}");
                o.Null(i);
            }
        }
        return o.Finish();
    }
}
