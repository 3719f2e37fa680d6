using System.CommandLine;

namespace AiEtl.Cli;

internal static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("aietl — AiEtl.Engine command-line tool");
        return root.Parse(args).Invoke();
    }
}
