using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AiEtl.Engine.Kernels;

/// <summary>The six SQL comparison operators.</summary>
public enum CompareOp : byte
{
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

public static class CompareOps
{
    /// <summary>The operator of an SQL symbol (<c>= &lt;&gt; != &lt; &lt;= &gt; &gt;=</c>).</summary>
    public static CompareOp Parse(string symbol) => symbol switch
    {
        "=" => CompareOp.Eq,
        "<>" or "!=" => CompareOp.Ne,
        "<" => CompareOp.Lt,
        "<=" => CompareOp.Le,
        ">" => CompareOp.Gt,
        ">=" => CompareOp.Ge,
        _ => throw new ArgumentException($"not a comparison operator: '{symbol}'", nameof(symbol)),
    };

    public static string Symbol(CompareOp op) => op switch
    {
        CompareOp.Eq => "=",
        CompareOp.Ne => "<>",
        CompareOp.Lt => "<",
        CompareOp.Le => "<=",
        CompareOp.Gt => ">",
        _ => ">=",
    };

    /// <summary>Whether a three-way comparison result satisfies <paramref name="op"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Test(CompareOp op, int order) => op switch
    {
        CompareOp.Eq => order == 0,
        CompareOp.Ne => order != 0,
        CompareOp.Lt => order < 0,
        CompareOp.Le => order <= 0,
        CompareOp.Gt => order > 0,
        _ => order >= 0,
    };

    /// <summary>
    /// Three-way comparison of float64 values in SQL order (PostgreSQL and DuckDB): NaN equals NaN and is
    /// greater than every other value; -0 equals 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CompareSql(double x, double y)
    {
        if (x < y) return -1;
        if (x > y) return 1;
        if (x == y) return 0;
        return double.IsNaN(x) ? (double.IsNaN(y) ? 0 : 1) : -1;
    }
}

/// <summary>
/// A comparison with a constant, specialised per operator through a struct type parameter so that the
/// kernels compile to straight-line code. Float64 follows SQL order (NaN largest, NaN = NaN): with a
/// non-NaN constant that is IEEE for =, &lt;, &lt;= and the negation of the opposite IEEE test for
/// &lt;&gt;, &gt;, &gt;= (so NaN passes those); a NaN constant maps to <see cref="NaNOp"/> / <see cref="NotNaNOp"/> /
/// <see cref="AllOp"/> / <see cref="NoneOp"/>. For integers the two formulations agree.
/// </summary>
internal interface IConstCompare
{
    static abstract bool Test<T>(T x, T c) where T : INumber<T>;
    static abstract Vector512<T> Test<T>(Vector512<T> x, Vector512<T> c);
    static abstract Vector256<T> Test<T>(Vector256<T> x, Vector256<T> c);
}

internal struct EqOp : IConstCompare
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Test<T>(T x, T c) where T : INumber<T> => x == c;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Test<T>(Vector512<T> x, Vector512<T> c) => Vector512.Equals(x, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Test<T>(Vector256<T> x, Vector256<T> c) => Vector256.Equals(x, c);
}

internal struct NeOp : IConstCompare
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Test<T>(T x, T c) where T : INumber<T> => !(x == c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Test<T>(Vector512<T> x, Vector512<T> c) => ~Vector512.Equals(x, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Test<T>(Vector256<T> x, Vector256<T> c) => ~Vector256.Equals(x, c);
}

internal struct LtOp : IConstCompare
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Test<T>(T x, T c) where T : INumber<T> => x < c;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Test<T>(Vector512<T> x, Vector512<T> c) => Vector512.LessThan(x, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Test<T>(Vector256<T> x, Vector256<T> c) => Vector256.LessThan(x, c);
}

internal struct LeOp : IConstCompare
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Test<T>(T x, T c) where T : INumber<T> => x <= c;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Test<T>(Vector512<T> x, Vector512<T> c) => Vector512.LessThanOrEqual(x, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Test<T>(Vector256<T> x, Vector256<T> c) => Vector256.LessThanOrEqual(x, c);
}

internal struct GtOp : IConstCompare
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Test<T>(T x, T c) where T : INumber<T> => !(x <= c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Test<T>(Vector512<T> x, Vector512<T> c) => ~Vector512.LessThanOrEqual(x, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Test<T>(Vector256<T> x, Vector256<T> c) => ~Vector256.LessThanOrEqual(x, c);
}

internal struct GeOp : IConstCompare
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Test<T>(T x, T c) where T : INumber<T> => !(x < c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Test<T>(Vector512<T> x, Vector512<T> c) => ~Vector512.LessThan(x, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Test<T>(Vector256<T> x, Vector256<T> c) => ~Vector256.LessThan(x, c);
}

/// <summary>x is NaN (the constant is ignored).</summary>
internal struct NaNOp : IConstCompare
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Test<T>(T x, T c) where T : INumber<T> => T.IsNaN(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Test<T>(Vector512<T> x, Vector512<T> c) => ~Vector512.Equals(x, x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Test<T>(Vector256<T> x, Vector256<T> c) => ~Vector256.Equals(x, x);
}

/// <summary>x is not NaN (the constant is ignored).</summary>
internal struct NotNaNOp : IConstCompare
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Test<T>(T x, T c) where T : INumber<T> => !T.IsNaN(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Test<T>(Vector512<T> x, Vector512<T> c) => Vector512.Equals(x, x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Test<T>(Vector256<T> x, Vector256<T> c) => Vector256.Equals(x, x);
}

/// <summary>Every (non-null) row passes.</summary>
internal struct AllOp : IConstCompare
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Test<T>(T x, T c) where T : INumber<T> => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Test<T>(Vector512<T> x, Vector512<T> c) => Vector512<T>.AllBitsSet;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Test<T>(Vector256<T> x, Vector256<T> c) => Vector256<T>.AllBitsSet;
}

/// <summary>No row passes.</summary>
internal struct NoneOp : IConstCompare
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Test<T>(T x, T c) where T : INumber<T> => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Test<T>(Vector512<T> x, Vector512<T> c) => Vector512<T>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Test<T>(Vector256<T> x, Vector256<T> c) => Vector256<T>.Zero;
}
