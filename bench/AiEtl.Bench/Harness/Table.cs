using System.Text;

namespace AiEtl.Bench.Harness;

/// <summary>A plain aligned text table: first column left-aligned, the others right-aligned.</summary>
public sealed class Table(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public Table Row(params string[] cells)
    {
        if (cells.Length != headers.Length) throw new ArgumentException($"expected {headers.Length} cells, got {cells.Length}", nameof(cells));
        _rows.Add(cells);
        return this;
    }

    public override string ToString()
    {
        var widths = new int[headers.Length];
        for (var c = 0; c < headers.Length; c++)
            widths[c] = Math.Max(headers[c].Length, _rows.Count == 0 ? 0 : _rows.Max(r => r[c].Length));
        var sb = new StringBuilder();
        void Line(string[] cells)
        {
            for (var c = 0; c < cells.Length; c++)
            {
                if (c > 0) sb.Append("  ");
                sb.Append(c == 0 ? cells[c].PadRight(widths[c]) : cells[c].PadLeft(widths[c]));
            }
            sb.Append('\n');
        }
        Line(headers);
        Line(widths.Select(w => new string('-', w)).ToArray());
        foreach (var r in _rows) Line(r);
        return sb.ToString();
    }

    /// <summary>The same table as GitHub markdown (for RESULTS.md).</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.Append("| ").AppendJoin(" | ", headers).Append(" |\n");
        sb.Append('|').AppendJoin('|', headers.Select((_, i) => i == 0 ? " --- " : " ---: ")).Append("|\n");
        foreach (var r in _rows) sb.Append("| ").AppendJoin(" | ", r).Append(" |\n");
        return sb.ToString();
    }
}
