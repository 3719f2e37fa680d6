using System.CommandLine;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Spec;

namespace AiEtl.Cli.Commands;

/// <summary><c>aietl validate FILE</c>: loads a pipeline spec and reports every problem, or a one-line summary.</summary>
internal static class ValidateCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The pipeline spec (YAML)" };
        var command = new Command("validate", "Check a pipeline spec and print every problem with its line and column")
        {
            file,
        };
        command.SetAction(parse => Execute(parse.GetRequiredValue(file), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    internal static int Execute(string path, TextWriter output, TextWriter error)
    {
        var result = PipelineSpecLoader.Load(path);
        if (result.Spec is { } spec && result.IsValid)
        {
            var sqlErrors = Planner.CheckSql(spec);
            if (sqlErrors.Count == 0)
            {
                output.WriteLine(spec.Secrets.Redact($"{path}: valid ({Summarize(spec)})"));
                return ExitCodes.Ok;
            }
            foreach (var e in sqlErrors) error.WriteLine(spec.Secrets.Redact(e.Format(path)));
            error.WriteLine($"{path}: {sqlErrors.Count} problem{(sqlErrors.Count == 1 ? "" : "s")}");
            return ExitCodes.InvalidSpecOrUsage;
        }
        foreach (var line in result.FormatErrors()) error.WriteLine(line);
        var n = result.Errors.Count;
        error.WriteLine($"{path}: {n} problem{(n == 1 ? "" : "s")}");
        return ExitCodes.InvalidSpecOrUsage;
    }

    /// <summary><c>source generator(orders), 3 transform steps, sink file(parquet)</c>.</summary>
    internal static string Summarize(PipelineSpec spec)
    {
        var sources = Endpoints("source", PipelineSpec.SingleSourceName, spec.Sources.Select(s => (s.Name, s.Connector.Describe())).ToArray());
        var transform = spec.Transform switch
        {
            null => "no transform",
            SqlTransformSpec => "1 transform step (SQL)",
            var t => t.StepCount == 1 ? "1 transform step" : $"{t.StepCount} transform steps",
        };
        var sinks = Endpoints("sink", PipelineSpec.SingleSinkName, spec.Sinks.Select(s => (s.Name, s.Connector.Describe())).ToArray());
        return $"{sources}, {transform}, {sinks}";
    }

    private static string Endpoints(string noun, string shorthandName, IReadOnlyList<(string Name, string Description)> items)
    {
        if (items.Count == 1 && items[0].Name == shorthandName) return $"{noun} {items[0].Description}";
        var list = string.Join(", ", items.Select(i => $"{i.Name}: {i.Description}"));
        return items.Count == 1 ? $"{noun} {list}" : $"{noun}s {list}";
    }
}
