namespace AiEtl.Engine.Connectors;

/// <summary>
/// A connector's options or declared schema are invalid (a configuration error: fail fast). Lists every
/// problem found, not just the first.
/// </summary>
public sealed class ConnectorConfigException : Exception
{
    public ConnectorConfigException(string connector, IReadOnlyList<string> problems)
        : base($"{connector}: " + string.Join("; ", problems))
    {
        Connector = connector;
        Problems = problems;
    }

    public ConnectorConfigException()
        : this("connector", ["invalid configuration"])
    {
    }

    public ConnectorConfigException(string message)
        : this("connector", [message])
    {
    }

    public ConnectorConfigException(string message, Exception inner)
        : base(message, inner)
    {
        Connector = "connector";
        Problems = [message];
    }

    public string Connector { get; } = "connector";
    public IReadOnlyList<string> Problems { get; } = [];

    internal static void ThrowIfAny(string connector, List<string> problems)
    {
        if (problems.Count > 0) throw new ConnectorConfigException(connector, problems);
    }
}
