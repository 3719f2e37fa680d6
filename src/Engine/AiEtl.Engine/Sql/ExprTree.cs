using System.Collections;
using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using AiEtl.Engine.Expressions;

namespace AiEtl.Engine.Sql;

/// <summary>
/// Read-only walks over expression trees that work for every node type, also ones added to the expression
/// language later: children are found by reflection over each node's public properties (an <see cref="Expr"/>,
/// a list of them, a tuple or a small record holding them), cached per type.
/// </summary>
public static class ExprTree
{
    private static readonly ConcurrentDictionary<Type, PropertyInfo[]> Properties = new();

    /// <summary>The direct children of a node.</summary>
    public static List<Expr> Children(Expr e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var list = new List<Expr>();
        AddChildren(e, list);
        return list;
    }

    private static void AddChildren(Expr e, List<Expr> into)
    {
        // The common node types without reflection; anything else (new node types) through its properties.
        switch (e)
        {
            case ColumnRef or Literal or IntervalLiteral:
                return;
            case BinaryExpr b:
                into.Add(b.Left);
                into.Add(b.Right);
                return;
            case UnaryExpr u:
                into.Add(u.Operand);
                return;
            case IsNullExpr n:
                into.Add(n.Operand);
                return;
            case DistinctFromExpr d:
                into.Add(d.Left);
                into.Add(d.Right);
                return;
            case CastExpr c:
                into.Add(c.Operand);
                return;
            case CallExpr c:
                into.AddRange(c.Args);
                if (c.Filter != null) into.Add(c.Filter);
                return;
        }
        foreach (var p in PropertiesOf(e.GetType())) Collect(p.GetValue(e), into, 0);
    }

    /// <summary>The depth of the tree (a leaf has depth 1), computed without recursion; stops early once past <paramref name="stopAbove"/>.</summary>
    public static int Depth(Expr e, int stopAbove = int.MaxValue)
    {
        var max = 0;
        var stack = new Stack<(Expr Node, int Depth)>();
        var children = new List<Expr>();
        stack.Push((e, 1));
        while (stack.Count > 0)
        {
            var (node, d) = stack.Pop();
            if (d > max) max = d;
            if (max > stopAbove) return max;
            children.Clear();
            AddChildren(node, children);
            foreach (var c in children) stack.Push((c, d + 1));
        }
        return max;
    }

    /// <summary>The first node (pre-order) matching <paramref name="match"/>, or null.</summary>
    public static Expr? Find(Expr e, Func<Expr, bool> match)
    {
        var stack = new Stack<Expr>();
        var children = new List<Expr>();
        stack.Push(e);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (match(node)) return node;
            children.Clear();
            AddChildren(node, children);
            for (var i = children.Count - 1; i >= 0; i--) stack.Push(children[i]);
        }
        return null;
    }

    private static PropertyInfo[] PropertiesOf(Type t) => Properties.GetOrAdd(t, static type =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && MayHoldExpr(p.PropertyType))
            .ToArray());

    private static bool MayHoldExpr(Type t) =>
        !t.IsPrimitive && !t.IsEnum && t != typeof(string) && t != typeof(decimal) && t != typeof(Type);

    private static void Collect(object? value, List<Expr> into, int level)
    {
        if (level > 4) return;
        switch (value)
        {
            case null or string:
                return;
            case Expr e:
                into.Add(e);
                return;
            case IEnumerable items:
                foreach (var item in items) Collect(item, into, level + 1);
                return;
            case ITuple tuple:
                for (var i = 0; i < tuple.Length; i++) Collect(tuple[i], into, level + 1);
                return;
        }
        var type = value.GetType();
        if (type.Namespace?.StartsWith("AiEtl.Engine", StringComparison.Ordinal) == true && !type.IsEnum)
            foreach (var p in PropertiesOf(type)) Collect(p.GetValue(value), into, level + 1);
    }
}
