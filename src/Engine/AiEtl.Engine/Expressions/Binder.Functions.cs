using System.Globalization;
using AiEtl.Engine.Columns;

namespace AiEtl.Engine.Expressions;

/// <summary>Binding of function calls, CASE, IN, BETWEEN, LIKE, ||, JSON operators and date/time arithmetic.</summary>
public sealed partial class Binder
{
    /// <summary>Scalar functions known to the binder (aggregates and window functions are bound elsewhere).</summary>
    public static readonly IReadOnlySet<string> Functions = new HashSet<string>
    {
        "lower", "upper", "length", "char_length", "character_length", "abs", "coalesce", "nullif", "concat",
        "substring", "substr", "btrim", "ltrim", "rtrim", "trim", "replace", "starts_with", "regexp_like", "regexp_replace",
        "split_part", "strpos", "date_trunc", "extract", "date_part", "to_timestamp", "from_unixtime", "json_value",
        "md5", "sha256", "xxhash64", "mask_email", "mask_card", "mask_phone",
    };

    private static bool IsNullLit(VExpr v) => v is LiteralVExpr { Value: null };

    private static string Plural(int n) => n.ToString(CultureInfo.InvariantCulture);

    private VExpr BindCall(CallExpr f)
    {
        if (!Functions.Contains(f.Name))
            throw new ExpressionException($"unknown function '{f.Name}' (known: {string.Join(", ", Functions.Order(StringComparer.Ordinal))})", f.Position);
        var args = f.Args.Select(Bind).ToList();
        void Arity(int min, int max)
        {
            if (args.Count < min || args.Count > max)
                throw new ExpressionException($"{f.Name} takes {(min == max ? Plural(min) : max == int.MaxValue ? $"at least {Plural(min)}" : $"{Plural(min)} to {Plural(max)}")} argument(s), got {args.Count}", f.Position);
        }
        VExpr Str(int k) => RequireString(args[k], f.Args[k].Position, f.Name);
        VExpr Int(int k) => RequireInt(args[k], f.Args[k].Position, f.Name);
        // Strict functions: a NULL constant argument makes the result NULL (after the other arguments are checked).
        VExpr Strict(ColumnKind kind, Func<VExpr> build) => args.Any(IsNullLit) ? new LiteralVExpr(null, kind) : build();

        switch (f.Name)
        {
            case "lower" or "upper":
            {
                Arity(1, 1);
                var s = Str(0);
                return Strict(ColumnKind.String, () => new CaseMapVExpr(f.Name == "upper", s));
            }
            case "length" or "char_length" or "character_length":
            {
                Arity(1, 1);
                var s = Str(0);
                return Strict(ColumnKind.Int32, () => new LengthVExpr(s));
            }
            case "abs":
                Arity(1, 1);
                if (IsNullLit(args[0])) return new LiteralVExpr(null, ColumnKind.Int64);
                if (!IsNumeric(args[0].Kind)) throw new ExpressionException($"abs needs a number, got {ColumnTypes.Name(args[0].Kind)}", f.Args[0].Position);
                return new AbsVExpr(args[0]);
            case "coalesce":
            {
                Arity(1, int.MaxValue);
                var k = Unify(args, f.Args, "COALESCE", f.Position);
                return new CoalesceVExpr([.. args.Select((a, i) => Conform(a, k, f.Args[i].Position))], k);
            }
            case "nullif":
            {
                Arity(2, 2);
                var a = args[0];
                var b = args[1];
                if (IsNullLit(a)) return new LiteralVExpr(null, IsNullLit(b) ? ColumnKind.String : b.Kind);
                var k = IsNumeric(a.Kind) && IsNumeric(b.Kind) && !IsNullLit(b) ? Wider(a.Kind, b.Kind)
                    : a is LiteralVExpr { Value: string } && !IsNullLit(b) ? b.Kind : a.Kind;
                var eq = BindCompare("=", Bind(f.Args[0]), b, f.Args[0].Position, f.Args[1].Position, f.Position);
                return new NullIfVExpr(Conform(a, k, f.Args[0].Position), eq);
            }
            case "concat":
            {
                Arity(1, int.MaxValue);
                // concat writes booleans as t/f (PostgreSQL's output function); || and casts write true/false.
                return new ConcatVExpr([.. args.Where(a => !IsNullLit(a)).Select(a => a.Kind == ColumnKind.Bool ? BoolLetter(a) : ToText(a))], skipNulls: true);
            }
            case "substring" or "substr":
            {
                Arity(2, 3);
                var s = Str(0);
                var from = Int(1);
                var count = args.Count == 3 ? Int(2) : null;
                if (count is LiteralVExpr { Value: { } c } && Convert.ToInt64(c, CultureInfo.InvariantCulture) < 0)
                    throw new ExpressionException("negative substring length not allowed", f.Args[2].Position);
                return Strict(ColumnKind.String, () => new SubstringVExpr(s, from, count));
            }
            case "btrim" or "ltrim" or "rtrim" or "trim":
            {
                Arity(1, 2);
                var s = Str(0);
                var chars = args.Count == 2 ? Str(1) : null;
                var mode = f.Name switch { "ltrim" => TrimVExpr.Leading, "rtrim" => TrimVExpr.Trailing, _ => TrimVExpr.Both };
                return Strict(ColumnKind.String, () => new TrimVExpr(f.Name == "trim" ? "btrim" : f.Name, mode, s, chars));
            }
            case "replace":
            {
                Arity(3, 3);
                var (s, from, to) = (Str(0), Str(1), Str(2));
                return Strict(ColumnKind.String, () => new ReplaceVExpr(s, from, to));
            }
            case "starts_with":
            {
                Arity(2, 2);
                var (s, p) = (Str(0), Str(1));
                return Strict(ColumnKind.Bool, () => new StartsWithVExpr(s, p));
            }
            case "strpos":
            {
                Arity(2, 2);
                var (s, p) = (Str(0), Str(1));
                return Strict(ColumnKind.Int32, () => new StrposVExpr(s, p));
            }
            case "split_part":
            {
                Arity(3, 3);
                var (s, d, n) = (Str(0), Str(1), Int(2));
                if (n is LiteralVExpr { Value: { } v } && Convert.ToInt64(v, CultureInfo.InvariantCulture) == 0)
                    throw new ExpressionException("field position must not be zero", f.Args[2].Position);
                return Strict(ColumnKind.String, () => new SplitPartVExpr(s, d, n));
            }
            case "regexp_like":
            {
                Arity(2, 3);
                var (s, p) = (Str(0), Str(1));
                var flags = args.Count == 3 ? ConstString(args[2], f.Args[2].Position, "the flags of regexp_like") : "";
                var compiled = PosixRegex.Compile(p, flags, f.Args[1].Position, allowGlobal: false);
                return Strict(ColumnKind.Bool, () => new RegexpLikeVExpr(s, p, compiled));
            }
            case "regexp_replace":
            {
                Arity(3, 4);
                var (s, p, r) = (Str(0), Str(1), Str(2));
                var flags = args.Count == 4 ? ConstString(args[3], f.Args[3].Position, "the flags of regexp_replace") : "";
                var compiled = PosixRegex.Compile(p, flags, f.Args[1].Position, allowGlobal: true);
                return Strict(ColumnKind.String, () => new RegexpReplaceVExpr(s, p, r, compiled));
            }
            case "md5" or "sha256" or "xxhash64":
            {
                Arity(1, 1);
                var s = Str(0);
                var kind = f.Name == "xxhash64" ? ColumnKind.Int64 : ColumnKind.String;
                return Strict(kind, () => new HashVExpr(f.Name, s));
            }
            case "mask_email" or "mask_card" or "mask_phone":
            {
                Arity(1, 1);
                var s = Str(0);
                return Strict(ColumnKind.String, () => new MaskVExpr(f.Name, s));
            }
            case "json_value":
            {
                Arity(2, 2);
                var s = Str(0);
                var path = ConstString(args[1], f.Args[1].Position, "the path of json_value");
                var steps = JsonPath.Parse(path, f.Args[1].Position);
                return Strict(ColumnKind.String, () => new JsonVExpr("json_value", s, steps, null, asText: true));
            }
            case "extract" or "date_part":
            {
                Arity(2, 2);
                var field = ConstString(args[0], f.Args[0].Position, $"the field of {f.Name}");
                var value = args[1];
                if (value is IntervalVExpr interval)
                {
                    if (DateTimeKernels.NormalizeField(field) != "epoch")
                        throw new ExpressionException($"only EPOCH can be extracted from an interval (intervals are microsecond counts), not '{field}'", f.Args[0].Position);
                    return new EpochOfIntervalVExpr(interval);
                }
                var ts = RequireTemporal(value, f.Args[1].Position, f.Name, out var wasDate);
                var ex = ExtractVExpr.Create(field, ts, asDouble: f.Name == "date_part", wasDate, f.Args[0].Position);
                return IsNullLit(ts) ? new LiteralVExpr(null, ex.Kind) : ex;
            }
            case "date_trunc":
            {
                Arity(2, 3);
                var unit = ConstString(args[0], f.Args[0].Position, "the unit of date_trunc");
                var ts = RequireTemporal(args[1], f.Args[1].Position, f.Name, out _);
                var zone = args.Count == 3 ? Str(2) : null;
                var tz = zone is LiteralVExpr { Value: string z } ? Zones.Resolve(z, f.Args[2].Position) : null;
                var dt = DateTruncVExpr.Create(unit, ts, zone, tz, f.Args[0].Position);
                return IsNullLit(ts) || (zone != null && IsNullLit(zone)) ? new LiteralVExpr(null, ColumnKind.Timestamp) : dt;
            }
            case "to_timestamp" or "from_unixtime":
            {
                if (f.Name == "to_timestamp" && args.Count == 2)
                {
                    var s = Str(0);
                    var format = ConstString(args[1], f.Args[1].Position, "the format of to_timestamp");
                    var compiled = TimestampFormat.Compile(format, f.Args[1].Position);
                    return Strict(ColumnKind.Timestamp, () => new ToTimestampTextVExpr(s, format, compiled));
                }
                Arity(1, 1);
                if (IsNullLit(args[0])) return new LiteralVExpr(null, ColumnKind.Timestamp);
                if (!IsNumeric(args[0].Kind))
                    throw new ExpressionException($"{f.Name} needs epoch seconds (a number){(f.Name == "to_timestamp" ? " or (text, format)" : "")}, got {ColumnTypes.Name(args[0].Kind)}", f.Args[0].Position);
                return new EpochToTimestampVExpr(f.Name, args[0]);
            }
            default:
                throw new ExpressionException($"function {f.Name} is not implemented", f.Position);
        }
    }

    private static VExpr RequireString(VExpr v, int pos, string fn)
    {
        if (IsNullLit(v)) return new LiteralVExpr(null, ColumnKind.String);
        if (v.Kind != ColumnKind.String)
            throw new ExpressionException($"{fn} needs a string, got {ColumnTypes.Name(v.Kind)}{(v is LiteralVExpr ? "" : $" (write CAST({v.Describe()} AS string))")}", pos);
        return v;
    }

    private static VExpr RequireInt(VExpr v, int pos, string fn)
    {
        if (IsNullLit(v)) return new LiteralVExpr(null, ColumnKind.Int64);
        if (v.Kind is not (ColumnKind.Int32 or ColumnKind.Int64))
            throw new ExpressionException($"{fn} needs an integer here, got {ColumnTypes.Name(v.Kind)}", pos);
        return v;
    }

    /// <summary>A timestamp argument: dates become midnight UTC; a string literal is parsed at bind time.</summary>
    private static VExpr RequireTemporal(VExpr v, int pos, string fn, out bool wasDate)
    {
        wasDate = v.Kind == ColumnKind.Date && !IsNullLit(v);
        if (IsNullLit(v)) return new LiteralVExpr(null, ColumnKind.Timestamp);
        if (v is LiteralVExpr { Value: string }) return Coerce(v, ColumnKind.Timestamp, pos);
        return v.Kind switch
        {
            ColumnKind.Timestamp => v,
            ColumnKind.Date => v is LiteralVExpr ? Conform(v, ColumnKind.Timestamp, pos) : new CastVExpr(v, ColumnKind.Timestamp),
            _ => throw new ExpressionException($"{fn} needs a timestamp or date, got {ColumnTypes.Name(v.Kind)}", pos),
        };
    }

    private static string ConstString(VExpr v, int pos, string what) =>
        v is LiteralVExpr { Value: string s } ? s : throw new ExpressionException($"{what} must be a constant string", pos);

    /// <summary>A value as text (for concat and ||), formatted as a cast to string would.</summary>
    private static VExpr ToText(VExpr v)
    {
        if (v.Kind == ColumnKind.String) return v;
        if (v is LiteralVExpr { Value: { } x } lit) return new LiteralVExpr(Values.Format(x, lit.Kind), ColumnKind.String);
        if (IsNullLit(v)) return new LiteralVExpr(null, ColumnKind.String);
        return new CastVExpr(v, ColumnKind.String);
    }

    private static VExpr BoolLetter(VExpr b) => b is LiteralVExpr { Value: bool v }
        ? new LiteralVExpr(v ? "t" : "f", ColumnKind.String)
        : new CaseVExpr([(b, new LiteralVExpr("t", ColumnKind.String)), (new NotVExpr(b), new LiteralVExpr("f", ColumnKind.String))], null, ColumnKind.String);

    /// <summary>The common type of CASE results or COALESCE arguments, as PostgreSQL resolves it.</summary>
    internal static ColumnKind Unify(IReadOnlyList<VExpr> xs, IReadOnlyList<Expr> exprs, string what, int pos)
    {
        ColumnKind? k = null;
        // Pass 0: typed values; pass 1: integer constants (they fit an int32 column, as PostgreSQL's int4 literals).
        for (var pass = 0; pass < 2; pass++)
        for (var i = 0; i < xs.Count; i++)
        {
            var x = xs[i];
            if (IsNullLit(x) || x is LiteralVExpr { Value: string }) continue; // untyped: takes the others' type
            var intConst = x is LiteralVExpr { Value: long v } && v is >= int.MinValue and <= int.MaxValue;
            if (intConst != (pass == 1)) continue;
            if (intConst && k is ColumnKind.Int32 or ColumnKind.Int64 or ColumnKind.Float64) continue;
            if (k == null || x.Kind == k) { k = x.Kind; continue; }
            if (IsNumeric(x.Kind) && IsNumeric(k.Value)) k = Wider(x.Kind, k.Value);
            else if (x.Kind is ColumnKind.Date or ColumnKind.Timestamp && k is ColumnKind.Date or ColumnKind.Timestamp) k = ColumnKind.Timestamp;
            else throw new ExpressionException($"{what} types {ColumnTypes.Name(k.Value)} and {ColumnTypes.Name(x.Kind)} cannot be matched", exprs[i].Position);
        }
        return k ?? ColumnKind.String;
    }

    /// <summary>Converts a bound value to <paramref name="k"/>: constants at bind time, columns with a cast.</summary>
    internal static VExpr Conform(VExpr v, ColumnKind k, int pos)
    {
        if (v.Kind == k && v is not LiteralVExpr { Value: null }) return v;
        if (v is LiteralVExpr { Value: null }) return new LiteralVExpr(null, k);
        if (v is LiteralVExpr { Value: { } x } lit)
        {
            if (!Values.TryConvert(x, lit.Kind, k, out var r, out var err))
                throw new ExpressionException($"'{Values.Format(x, lit.Kind)}' is not a valid {ColumnTypes.Name(k)}: {err}", pos);
            return new LiteralVExpr(r, k);
        }
        if (v is IntervalVExpr iv) return Conform(iv.Total, k, pos);
        return new CastVExpr(v, k);
    }

    private VExpr BindCase(CaseExpr c)
    {
        var whens = new List<VExpr>();
        foreach (var w in c.Whens)
        {
            if (c.Operand == null) whens.Add(RequireBool(Bind(w.When), w.When.Position, "CASE WHEN"));
            else whens.Add(BindCompare("=", Bind(c.Operand), Bind(w.When), c.Operand.Position, w.When.Position, w.When.Position));
        }
        var results = c.Whens.Select(w => Bind(w.Then)).ToList();
        var exprs = c.Whens.Select(w => w.Then).ToList();
        if (c.Else != null)
        {
            results.Add(Bind(c.Else));
            exprs.Add(c.Else);
        }
        var k = Unify(results, exprs, "CASE", c.Position);
        var conformed = results.Select((r, i) => Conform(r, k, exprs[i].Position)).ToList();
        var arms = whens.Select((w, i) => (w, conformed[i])).ToList();
        return new CaseVExpr(arms, c.Else != null ? conformed[^1] : null, k);
    }

    private VExpr BindIn(InListExpr e)
    {
        var x = Bind(e.Operand);
        var items = e.Items.Select(Bind).ToList();
        if (IsNullLit(x)) return new LiteralVExpr(null, ColumnKind.Bool);
        if (x is IntervalVExpr iv) x = iv.Total;
        if (items.All(i => i is LiteralVExpr))
        {
            var k = x.Kind;
            var typed = new List<LiteralVExpr>();
            for (var j = 0; j < items.Count; j++)
            {
                var it = Coerce(items[j], k, e.Items[j].Position);
                if (IsNullLit(it)) { typed.Add(new LiteralVExpr(null, k)); continue; }
                if (IsNumeric(k) && IsNumeric(it.Kind)) k = Wider(k, it.Kind);
                else if (it.Kind != k)
                    throw new ExpressionException($"cannot compare {ColumnTypes.Name(x.Kind)} with {ColumnTypes.Name(it.Kind)} in IN", e.Items[j].Position);
                typed.Add((LiteralVExpr)it);
            }
            var converted = typed.Select((t, j) => (LiteralVExpr)Conform(t, k, e.Items[j].Position)).ToList();
            return new InListVExpr(Conform(x, k, e.Operand.Position), converted, e.Negated);
        }
        // General form: x = a OR x = b …, which has the same NULL semantics.
        VExpr? any = null;
        for (var j = 0; j < items.Count; j++)
        {
            var eq = BindCompare("=", j == 0 ? x : Bind(e.Operand), items[j], e.Operand.Position, e.Items[j].Position, e.Position);
            any = any == null ? eq : new LogicVExpr("OR", any, eq);
        }
        return e.Negated ? new NotVExpr(any!) : any!;
    }

    private VExpr BindBetween(BetweenExpr e)
    {
        var lo = BindCompare(e.Negated ? "<" : ">=", Bind(e.Operand), Bind(e.Low), e.Operand.Position, e.Low.Position, e.Position);
        var hi = BindCompare(e.Negated ? ">" : "<=", Bind(e.Operand), Bind(e.High), e.Operand.Position, e.High.Position, e.Position);
        return new LogicVExpr(e.Negated ? "OR" : "AND", lo, hi);
    }

    private VExpr BindLike(LikeExpr e)
    {
        var op = e.IgnoreCase ? "ILIKE" : "LIKE";
        var s = RequireString(Bind(e.Operand), e.Operand.Position, op);
        var p = RequireString(Bind(e.Pattern), e.Pattern.Position, op);
        var escape = (int)'\\';
        if (e.Escape != null)
        {
            var esc = Bind(e.Escape);
            if (IsNullLit(esc)) return new LiteralVExpr(null, ColumnKind.Bool);
            var text = ConstString(esc, e.Escape.Position, "the ESCAPE of LIKE");
            var runes = text.EnumerateRunes().ToList();
            if (runes.Count > 1) throw new ExpressionException("invalid escape string: ESCAPE must be empty or one character", e.Escape.Position);
            escape = runes.Count == 0 ? -1 : runes[0].Value;
        }
        if (IsNullLit(s) || IsNullLit(p)) return new LiteralVExpr(null, ColumnKind.Bool);
        return LikeVExpr.Create(s, p, escape, e.IgnoreCase, e.Negated, e.Pattern.Position);
    }

    private VExpr BindAtTimeZone(AtTimeZoneExpr e)
    {
        var ts = RequireTemporal(Bind(e.Operand), e.Operand.Position, "AT TIME ZONE", out _);
        var zone = RequireString(Bind(e.Zone), e.Zone.Position, "AT TIME ZONE");
        if (IsNullLit(ts) || IsNullLit(zone)) return new LiteralVExpr(null, ColumnKind.Timestamp);
        var tz = zone is LiteralVExpr { Value: string z } ? Zones.Resolve(z, e.Zone.Position) : null;
        return new AtTimeZoneVExpr(ts, zone, tz);
    }

    private VExpr BindConcatOp(BinaryExpr b)
    {
        var l = Bind(b.Left);
        var r = Bind(b.Right);
        var ls = l.Kind == ColumnKind.String || IsNullLit(l);
        var rs = r.Kind == ColumnKind.String || IsNullLit(r);
        if (!ls && !rs)
            throw new ExpressionException($"operator || needs a string on one side, got {ColumnTypes.Name(l.Kind)} || {ColumnTypes.Name(r.Kind)} (cast one side to string)", b.Position);
        if (IsNullLit(l) || IsNullLit(r)) return new LiteralVExpr(null, ColumnKind.String);
        return new ConcatVExpr([ToText(l), ToText(r)], skipNulls: false);
    }

    private VExpr BindJsonOp(BinaryExpr b)
    {
        var s = RequireString(Bind(b.Left), b.Left.Position, b.Op);
        var key = Bind(b.Right);
        if (IsNullLit(key) || IsNullLit(s)) return new LiteralVExpr(null, ColumnKind.String);
        if (key.Kind is not (ColumnKind.String or ColumnKind.Int32 or ColumnKind.Int64))
            throw new ExpressionException($"the key of {b.Op} must be a string (object key) or an integer (array index), got {ColumnTypes.Name(key.Kind)}", b.Right.Position);
        JsonPath.Step[]? steps = key is LiteralVExpr { Value: { } k } ? [JsonPath.Step.Of(k)] : null;
        return new JsonVExpr(b.Op, s, steps, steps == null ? key : null, asText: b.Op == "->>");
    }

    /// <summary>+ - * / involving timestamps, dates or intervals; null when both sides are plain numbers.</summary>
    private static VExpr? BindTemporalArith(BinaryExpr b, VExpr l, VExpr r)
    {
        bool li = l is IntervalVExpr, ri = r is IntervalVExpr;
        bool lt = l.Kind is ColumnKind.Timestamp or ColumnKind.Date && !IsNullLit(l), rt = r.Kind is ColumnKind.Timestamp or ColumnKind.Date && !IsNullLit(r);
        if (!li && !ri && !lt && !rt) return null;
        var op = b.Op;
        VExpr AsTs(VExpr v, int pos) => v.Kind == ColumnKind.Date ? Conform(v, ColumnKind.Timestamp, pos) : v;
        if (IsNullLit(l) || IsNullLit(r))
        {
            var other = IsNullLit(l) ? r : l;
            return other is IntervalVExpr && op is "+" or "-" or "*" or "/" ? new IntervalVExpr(new LiteralVExpr(null, ColumnKind.Int64), "NULL")
                : new LiteralVExpr(null, other.Kind == ColumnKind.Date && op is "+" or "-" ? ColumnKind.Date : other.Kind);
        }
        switch (op)
        {
            case "+" when lt && ri:
                return DateTimeKernels.Shift(AsTs(l, b.Left.Position), "+", r);
            case "+" when li && rt:
                return DateTimeKernels.Shift(AsTs(r, b.Right.Position), "+", l);
            case "-" when lt && ri:
                return DateTimeKernels.Shift(AsTs(l, b.Left.Position), "-", r);
            case "+" or "-" when li && ri:
            {
                IntervalVExpr a = (IntervalVExpr)l, c = (IntervalVExpr)r;
                VExpr? months = a.Months == null && c.Months == null ? null
                    : new ArithVExpr(op, a.Months ?? new LiteralVExpr(0L, ColumnKind.Int64), c.Months ?? new LiteralVExpr(0L, ColumnKind.Int64), ColumnKind.Int64);
                return new IntervalVExpr(new ArithVExpr(op, a.Micros, c.Micros, ColumnKind.Int64), null, months);
            }
            case "-" when l.Kind == ColumnKind.Date && r.Kind == ColumnKind.Date:
                return new ArithVExpr("-", l, r, ColumnKind.Int32);
            case "-" when lt && rt:
                return new IntervalVExpr(new ArithVExpr("-", AsTs(l, b.Left.Position), AsTs(r, b.Right.Position), ColumnKind.Int64), null);
            case "+" when l.Kind == ColumnKind.Date && r.Kind is ColumnKind.Int32 or ColumnKind.Int64:
                return DateTimeKernels.ShiftDays(l, "+", Conform(r, ColumnKind.Int32, b.Right.Position));
            case "+" when r.Kind == ColumnKind.Date && l.Kind is ColumnKind.Int32 or ColumnKind.Int64:
                return DateTimeKernels.ShiftDays(r, "+", Conform(l, ColumnKind.Int32, b.Left.Position));
            case "-" when l.Kind == ColumnKind.Date && r.Kind is ColumnKind.Int32 or ColumnKind.Int64:
                return DateTimeKernels.ShiftDays(l, "-", Conform(r, ColumnKind.Int32, b.Right.Position));
            case "*" when li && IsNumeric(r.Kind) && !ri:
                return DateTimeKernels.ScaleInterval(l, "*", r, b.Position);
            case "*" when ri && IsNumeric(l.Kind) && !li:
                return DateTimeKernels.ScaleInterval(r, "*", l, b.Position);
            case "/" when li && IsNumeric(r.Kind) && !ri:
                return DateTimeKernels.ScaleInterval(l, "/", r, b.Position);
        }
        string Name(VExpr v) => v is IntervalVExpr ? "interval" : ColumnTypes.Name(v.Kind);
        var hint = (lt || rt) && (IsNumeric(l.Kind) || IsNumeric(r.Kind)) && l.Kind != ColumnKind.Date && r.Kind != ColumnKind.Date
            ? " (add an INTERVAL instead, e.g. ts + INTERVAL '1' DAY or ts + n * INTERVAL '1 second')" : "";
        throw new ExpressionException($"operator {op} is not defined for {Name(l)} {op} {Name(r)}{hint}", b.Position);
    }
}
