namespace AiEtl.Cli;

/// <summary>The exit codes of <c>aietl</c>, for every command.</summary>
internal static class ExitCodes
{
    /// <summary>Finished, drained, or the spec is valid.</summary>
    public const int Ok = 0;

    /// <summary>The pipeline failed while running.</summary>
    public const int PipelineFailed = 1;

    /// <summary>The spec is invalid, or the command line is wrong.</summary>
    public const int InvalidSpecOrUsage = 2;

    /// <summary>Aborted (a second Ctrl-C / SIGTERM), as shells report SIGINT.</summary>
    public const int Aborted = 130;
}
