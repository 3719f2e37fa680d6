using System.Diagnostics;
using System.Globalization;
using AiEtl.TestSupport;

namespace AiEtl.Bench.Harness;

/// <summary>
/// librdkafka's mock Kafka cluster hosted in a child process (this executable with the hidden command
/// <c>kafka-mock-broker</c>), so that the broker's CPU is not counted as the engine's. The child creates the
/// topic through the mock API, prints <c>bootstrap HOST:PORT,…</c> on stdout and lives until its stdin closes.
/// </summary>
public sealed class MockBrokerProcess : IDisposable
{
    public const string Command = "kafka-mock-broker";
    private readonly Process _process;

    private MockBrokerProcess(Process process, string bootstrap)
    {
        _process = process;
        BootstrapServers = bootstrap;
    }

    public string BootstrapServers { get; }
    public int Pid => _process.Id;

    /// <summary>CPU seconds (user + sys) the broker process has used so far.</summary>
    public double CpuSeconds
    {
        get
        {
            _process.Refresh();
            return _process.HasExited ? 0 : _process.TotalProcessorTime.TotalSeconds;
        }
    }

    /// <summary>Starts the child and waits (up to 60 s) for its bootstrap line.</summary>
    public static MockBrokerProcess Start(int brokers, string topic, int partitions) => Start(brokers, [(topic, partitions)]);

    /// <summary>Starts the child with several topics created up front.</summary>
    public static MockBrokerProcess Start(int brokers, IReadOnlyList<(string Topic, int Partitions)> topics)
    {
        ArgumentNullException.ThrowIfNull(topics);
        if (topics.Count == 0) throw new ArgumentException("at least one topic", nameof(topics));
        var exe = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this process's executable");
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        // Under `dotnet AiEtl.Bench.dll` the host is dotnet itself: pass the assembly first.
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") psi.ArgumentList.Add(typeof(MockBrokerProcess).Assembly.Location);
        psi.ArgumentList.Add(Command);
        psi.ArgumentList.Add(brokers.ToString(CultureInfo.InvariantCulture));
        foreach (var (topic, partitions) in topics)
        {
            psi.ArgumentList.Add(topic);
            psi.ArgumentList.Add(partitions.ToString(CultureInfo.InvariantCulture));
        }
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start the mock broker process");
        var line = p.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(60)) || line.Result is not { } text || !text.StartsWith("bootstrap ", StringComparison.Ordinal))
        {
            try { p.Kill(true); } catch (InvalidOperationException) { }
            throw new InvalidOperationException($"the mock broker process did not report its bootstrap servers (got '{(line.IsCompleted ? line.Result : "nothing")}')");
        }
        return new MockBrokerProcess(p, text["bootstrap ".Length..].Trim());
    }

    /// <summary>The child's side: <c>kafka-mock-broker BROKERS TOPIC PARTITIONS [TOPIC PARTITIONS …]</c>.</summary>
    public static int HostMain(ReadOnlySpan<string> args)
    {
        if (args.Length < 3 || args.Length % 2 == 0) throw new UsageException($"usage: {Command} BROKERS TOPIC PARTITIONS [TOPIC PARTITIONS ...]");
        using var cluster = KafkaMockCluster.Start(int.Parse(args[0], CultureInfo.InvariantCulture));
        for (var i = 1; i < args.Length; i += 2) cluster.CreateTopic(args[i], int.Parse(args[i + 1], CultureInfo.InvariantCulture));
        Console.Out.WriteLine("bootstrap " + cluster.BootstrapServers);
        Console.Out.Flush();
        // Live until the parent closes stdin (or dies).
        while (Console.In.ReadLine() != null)
        {
        }
        return 0;
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(10_000)) _process.Kill(true);
            _process.WaitForExit(5_000);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _process.Dispose();
    }
}
