using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace AiEtl.TestSupport;

/// <summary>
/// A Kafka-protocol broker: librdkafka's mock cluster, created in-process through P/Invoke into the
/// librdkafka shipped by the <c>librdkafka.redist</c> package. It listens on loopback TCP, so any client
/// in any process can use <see cref="BootstrapServers"/>. Destroyed on dispose.
/// </summary>
public sealed unsafe class KafkaMockCluster : IDisposable
{
    private static readonly Lazy<RdKafka> Native = new(RdKafka.Load);
    private nint _rk;
    private nint _cluster;

    public string BootstrapServers { get; }
    public int Brokers { get; }
    public TimeSpan StartupTime { get; }

    private KafkaMockCluster(nint rk, nint cluster, string bootstrap, int brokers, TimeSpan startup)
    {
        _rk = rk;
        _cluster = cluster;
        BootstrapServers = bootstrap;
        Brokers = brokers;
        StartupTime = startup;
    }

    /// <summary>The native library file the mock runs from (the bundled build that needs no libsasl2.so.3).</summary>
    public static string LibraryPath => Native.Value.Path;

    public static KafkaMockCluster Start(int brokers = 1)
    {
        var sw = Stopwatch.StartNew();
        var n = Native.Value;
        var errstr = stackalloc byte[512];
        var conf = n.ConfNew();
        SetConf(n, conf, "client.id", "aietl-mock-host", errstr);
        // Keep the hosting handle quiet: it exists only to own the mock cluster.
        SetConf(n, conf, "log_level", "3", errstr);
        var rk = n.New(0 /* RD_KAFKA_PRODUCER */, conf, errstr, 512);
        if (rk == 0) throw new InvalidOperationException("rd_kafka_new failed: " + Marshal.PtrToStringUTF8((nint)errstr));
        var cluster = n.MockClusterNew(rk, brokers);
        if (cluster == 0)
        {
            n.Destroy(rk);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed");
        }
        var bootstrap = Marshal.PtrToStringUTF8(n.MockClusterBootstraps(cluster))!;
        var m = new KafkaMockCluster(rk, cluster, bootstrap, brokers, sw.Elapsed);
        ServerProcess.Log($"Kafka mock cluster ({brokers} broker(s), {Path.GetFileName(n.Path)}) ready on {bootstrap} in {sw.ElapsedMilliseconds} ms");
        return m;
    }

    private static void SetConf(RdKafka n, nint conf, string name, string value, byte* errstr)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name + "\0");
        var valueBytes = Encoding.UTF8.GetBytes(value + "\0");
        fixed (byte* pn = nameBytes)
        fixed (byte* pv = valueBytes)
        {
            if (n.ConfSet(conf, pn, pv, errstr, 512) != 0)
                throw new InvalidOperationException($"rd_kafka_conf_set({name}) failed: {Marshal.PtrToStringUTF8((nint)errstr)}");
        }
    }

    /// <summary>Creates a topic with the given partition count (the mock does not support the admin API).</summary>
    public void CreateTopic(string topic, int partitions, int replicationFactor = 1)
    {
        ObjectDisposedException.ThrowIf(_cluster == 0, this);
        var bytes = Encoding.UTF8.GetBytes(topic + "\0");
        fixed (byte* p = bytes)
        {
            var err = Native.Value.MockTopicCreate(_cluster, p, partitions, Math.Min(replicationFactor, Brokers));
            if (err != 0) throw new InvalidOperationException($"rd_kafka_mock_topic_create({topic}, {partitions}) failed with error {err}");
        }
    }

    public void Dispose()
    {
        if (_cluster != 0)
        {
            Native.Value.MockClusterDestroy(_cluster);
            _cluster = 0;
        }
        if (_rk != 0)
        {
            Native.Value.Destroy(_rk);
            _rk = 0;
        }
    }

    private sealed class RdKafka
    {
        public required string Path { get; init; }
        public required delegate* unmanaged<nint> ConfNew { get; init; }
        public required delegate* unmanaged<nint, byte*, byte*, byte*, nuint, int> ConfSet { get; init; }
        public required delegate* unmanaged<int, nint, byte*, nuint, nint> New { get; init; }
        public required delegate* unmanaged<nint, void> Destroy { get; init; }
        public required delegate* unmanaged<nint, int, nint> MockClusterNew { get; init; }
        public required delegate* unmanaged<nint, nint> MockClusterBootstraps { get; init; }
        public required delegate* unmanaged<nint, byte*, int, int, int> MockTopicCreate { get; init; }
        public required delegate* unmanaged<nint, void> MockClusterDestroy { get; init; }

        public static RdKafka Load()
        {
            var baseDir = AppContext.BaseDirectory;
            var candidates = new[]
            {
                System.IO.Path.Combine(baseDir, "runtimes", "linux-x64", "native", "centos8-librdkafka.so"),
                System.IO.Path.Combine(baseDir, "centos8-librdkafka.so"),
                System.IO.Path.Combine(baseDir, "runtimes", "linux-x64", "native", "librdkafka.so"),
                System.IO.Path.Combine(baseDir, "librdkafka.so"),
            };
            var errors = new List<string>();
            foreach (var c in candidates.Where(File.Exists))
            {
                try
                {
                    var h = NativeLibrary.Load(c);
                    return new RdKafka
                    {
                        Path = c,
                        ConfNew = (delegate* unmanaged<nint>)NativeLibrary.GetExport(h, "rd_kafka_conf_new"),
                        ConfSet = (delegate* unmanaged<nint, byte*, byte*, byte*, nuint, int>)NativeLibrary.GetExport(h, "rd_kafka_conf_set"),
                        New = (delegate* unmanaged<int, nint, byte*, nuint, nint>)NativeLibrary.GetExport(h, "rd_kafka_new"),
                        Destroy = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(h, "rd_kafka_destroy"),
                        MockClusterNew = (delegate* unmanaged<nint, int, nint>)NativeLibrary.GetExport(h, "rd_kafka_mock_cluster_new"),
                        MockClusterBootstraps = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(h, "rd_kafka_mock_cluster_bootstraps"),
                        MockTopicCreate = (delegate* unmanaged<nint, byte*, int, int, int>)NativeLibrary.GetExport(h, "rd_kafka_mock_topic_create"),
                        MockClusterDestroy = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(h, "rd_kafka_mock_cluster_destroy"),
                    };
                }
                catch (DllNotFoundException e)
                {
                    errors.Add($"{c}: {e.Message}");
                }
            }
            throw new InvalidOperationException(
                "librdkafka (NuGet package librdkafka.redist) could not be loaded from " + baseDir +
                (errors.Count > 0 ? ": " + string.Join("; ", errors) : ": no runtimes/linux-x64/native/*librdkafka.so in the output"));
        }
    }
}
