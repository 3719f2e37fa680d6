using System.Diagnostics;
using System.Globalization;
using System.Text;
using AiEtl.TestSupport;
using Confluent.Kafka;

namespace AiEtl.Integration.Tests.KafkaClickHouse;

/// <summary>A Kafka-protocol mock cluster and a ClickHouse server for the Kafka → ClickHouse job tests.</summary>
[CollectionDefinition("kafka-clickhouse")]
public sealed class KafkaClickHouseCollection : ICollectionFixture<KafkaFixture>, ICollectionFixture<ClickHouseFixture>;

/// <summary>`aietl run` as a child process (dotnet aietl.dll …), as users run it.</summary>
internal static class Aietl
{
    public static string DllPath()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "AiEtl.Engine.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var suffix = Path.GetRelativePath(Path.Combine(dir.FullName, "tests", "AiEtl.Integration.Tests"), AppContext.BaseDirectory);
        var dll = Path.Combine(dir.FullName, "src", "ControlPlane", "AiEtl.Cli", suffix, "aietl.dll");
        Assert.True(File.Exists(dll), $"aietl.dll not built at {dll}");
        return dll;
    }

    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "AiEtl.Engine.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return dir.FullName;
    }

    /// <summary>A running <c>aietl</c> whose stdout and stderr are being collected.</summary>
    public sealed class Run : IDisposable
    {
        private readonly Process _p;
        private readonly StringBuilder _stderr = new();
        private readonly StringBuilder _stdout = new();
        private readonly Task _out, _err;

        public Run(string workingDir, params string[] args)
        {
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = workingDir,
            };
            start.ArgumentList.Add(DllPath());
            foreach (var a in args) start.ArgumentList.Add(a);
            _p = Process.Start(start)!;
            _out = Task.Run(async () =>
            {
                while (await _p.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
                    lock (_stdout) _stdout.AppendLine(line);
            });
            _err = Task.Run(async () =>
            {
                while (await _p.StandardError.ReadLineAsync().ConfigureAwait(false) is { } line)
                    lock (_stderr) _stderr.AppendLine(line);
            });
        }

        public int Id => _p.Id;
        public bool HasExited => _p.HasExited;
        public int ExitCode => _p.ExitCode;

        public string Stdout
        {
            get { lock (_stdout) return _stdout.ToString(); }
        }

        public string Stderr
        {
            get { lock (_stderr) return _stderr.ToString(); }
        }

        /// <summary>SIGKILL: no chance to flush, commit or clean up.</summary>
        public async Task KillAsync(CancellationToken ct)
        {
            _p.Kill();
            await _p.WaitForExitAsync(ct);
        }

        /// <summary>SIGINT (a graceful stop: drain, final checkpoint) and wait for the exit; returns the exit code.</summary>
        public async Task<int> StopAsync(TimeSpan timeout, CancellationToken ct)
        {
            ServerProcess.Signal(_p.Id, ServerProcess.SIGINT);
            return await WaitAsync(timeout, ct);
        }

        public async Task<int> WaitAsync(TimeSpan timeout, CancellationToken ct)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(timeout);
            try
            {
                await _p.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                var state = ServerProcess.DescribeProcess(_p.Id);
                _p.Kill();
                throw new TimeoutException($"aietl did not exit within {timeout}: {state}{Environment.NewLine}{Stderr}");
            }
            await Task.WhenAll(_out, _err).WaitAsync(TimeSpan.FromSeconds(10), ct);
            return _p.ExitCode;
        }

        public void Dispose()
        {
            if (!_p.HasExited)
            {
                try { _p.Kill(); } catch (InvalidOperationException) { }
            }
            _p.Dispose();
        }
    }
}

/// <summary>Reads a consumer group's committed offsets (what the job's completed checkpoints hold).</summary>
internal sealed class CommittedOffsets : IDisposable
{
    private readonly IConsumer<Ignore, Ignore> _consumer;
    private readonly List<TopicPartition> _partitions;

    public CommittedOffsets(string brokers, string group, string topic, int partitions)
    {
        _consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = brokers, GroupId = group, EnableAutoCommit = false }).Build();
        _partitions = Enumerable.Range(0, partitions).Select(p => new TopicPartition(topic, p)).ToList();
    }

    /// <summary>Messages covered by committed offsets over all partitions.</summary>
    public long Total()
    {
        try
        {
            return _consumer.Committed(_partitions, TimeSpan.FromSeconds(10)).Sum(o => Math.Max(0, o.Offset.Value));
        }
        catch (KafkaException)
        {
            return -1; // coordinator not known yet: not a failure of the job
        }
    }

    public void Dispose() => _consumer.Dispose();
}

internal static class KcText
{
    public static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
