using YamlDotNet.RepresentationModel;

namespace AiEtl.Integration.Tests;

public sealed class DockerComposeTests
{
    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "AiEtl.Engine.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    [Fact]
    public void Compose_file_defines_kraft_kafka_current_clickhouse_and_logical_postgres()
    {
        var yaml = new YamlStream();
        using (var reader = File.OpenText(Path.Combine(RepoRoot(), "docker", "docker-compose.yml")))
            yaml.Load(reader);
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var services = (YamlMappingNode)root.Children[new YamlScalarNode("services")];
        string Text(YamlNode n) => n.ToString();
        YamlMappingNode Service(string name) => (YamlMappingNode)services.Children[new YamlScalarNode(name)];

        var kafka = Service("kafka");
        Assert.StartsWith("apache/kafka", Text(kafka.Children[new YamlScalarNode("image")]));
        var kafkaEnv = (YamlMappingNode)kafka.Children[new YamlScalarNode("environment")];
        Assert.Contains("broker,controller", Text(kafkaEnv.Children[new YamlScalarNode("KAFKA_PROCESS_ROLES")]));
        Assert.True(kafkaEnv.Children.ContainsKey(new YamlScalarNode("KAFKA_CONTROLLER_QUORUM_VOTERS")));

        var ch = Service("clickhouse");
        Assert.StartsWith("clickhouse/clickhouse-server:2", Text(ch.Children[new YamlScalarNode("image")]));

        var pg = Service("postgres");
        var command = string.Join(' ', ((YamlSequenceNode)pg.Children[new YamlScalarNode("command")]).Children.Select(Text));
        Assert.Contains("wal_level=logical", command);
        foreach (var (name, svc) in services.Children)
            Assert.True(((YamlMappingNode)svc).Children.ContainsKey(new YamlScalarNode("healthcheck")), $"service {name} has no healthcheck");
    }
}
