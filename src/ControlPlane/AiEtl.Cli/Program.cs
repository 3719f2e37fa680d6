using System.CommandLine;
using AiEtl.Cli.Commands;

namespace AiEtl.Cli;

internal static class Program
{
    public static int Main(string[] args)
    {
        // One static class per command; `explain` and `run` join this list.
        var root = new RootCommand("aietl — AiEtl.Engine command-line tool")
        {
            ValidateCommand.Create(),
            ExplainCommand.Create(),
            RunCommand.Create(),
            StatusCommand.Create(),
        };
        return Run(root, args);
    }

    /// <summary>Parses and invokes; a usage error prints why and exits with <see cref="ExitCodes.InvalidSpecOrUsage"/>.</summary>
    internal static int Run(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine($"aietl: {error.Message}");
            Console.Error.WriteLine("Run 'aietl --help' for usage.");
            return ExitCodes.InvalidSpecOrUsage;
        }
        return parse.Invoke();
    }
}
