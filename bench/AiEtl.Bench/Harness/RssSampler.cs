using Microsoft.Win32.SafeHandles;

namespace AiEtl.Bench.Harness;

/// <summary>
/// Samples the process's resident set (VmRSS) every few milliseconds on its own thread and keeps the
/// largest value seen since <see cref="ResetWindow"/>. Needed because the kernel's high-water mark
/// (VmHWM) cannot be reset between measurements. Sampling reads <c>/proc/self/statm</c> through one
/// open handle into a fixed buffer, so it allocates nothing and does not disturb allocation figures.
/// </summary>
public sealed class RssSampler : IDisposable
{
    private readonly SafeFileHandle? _statm;
    private readonly byte[] _buffer = new byte[256];
    private readonly Lock _gate = new();
    private readonly long _pageSize = Environment.SystemPageSize;
    private readonly Thread? _thread;
    private readonly int _intervalMs;
    private volatile bool _stop;
    private long _windowMax;

    public RssSampler(int intervalMs = 5)
    {
        _intervalMs = intervalMs;
        try
        {
            _statm = File.OpenHandle("/proc/self/statm");
        }
        catch (IOException)
        {
            _statm = null;
        }
        catch (UnauthorizedAccessException)
        {
            _statm = null;
        }
        if (_statm == null) return;
        _thread = new Thread(Loop) { IsBackground = true, Name = "rss-sampler" };
        _thread.Start();
    }

    /// <summary>False where <c>/proc</c> is missing (not Linux): RSS figures are then 0.</summary>
    public bool Available => _statm != null;

    /// <summary>Starts a new window at the current RSS.</summary>
    public void ResetWindow() => Interlocked.Exchange(ref _windowMax, SampleOnce());

    /// <summary>Largest RSS in bytes sampled since <see cref="ResetWindow"/> (including a sample taken now).</summary>
    public long WindowMax
    {
        get
        {
            Raise(SampleOnce());
            return Interlocked.Read(ref _windowMax);
        }
    }

    private void Loop()
    {
        while (!_stop)
        {
            Raise(SampleOnce());
            Thread.Sleep(_intervalMs);
        }
    }

    private void Raise(long value)
    {
        var seen = Interlocked.Read(ref _windowMax);
        while (value > seen)
        {
            var was = Interlocked.CompareExchange(ref _windowMax, value, seen);
            if (was == seen) return;
            seen = was;
        }
    }

    private long SampleOnce()
    {
        if (_statm == null) return 0;
        lock (_gate)
        {
            // statm: size resident shared text lib data dt (pages); the second field is the RSS.
            var n = RandomAccess.Read(_statm, _buffer, 0);
            var i = 0;
            while (i < n && _buffer[i] != ' ') i++;
            i++;
            long pages = 0;
            while (i < n && _buffer[i] is >= (byte)'0' and <= (byte)'9') pages = pages * 10 + (_buffer[i++] - '0');
            return pages * _pageSize;
        }
    }

    /// <summary>The kernel's peak RSS of the whole process so far (VmHWM), in bytes; 0 if unknown.</summary>
    public static long ReadVmHwm() => ReadStatusKb("VmHWM:") * 1024;

    /// <summary>The current RSS (VmRSS), in bytes; 0 if unknown.</summary>
    public static long ReadVmRss() => ReadStatusKb("VmRSS:") * 1024;

    private static long ReadStatusKb(string key)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
                // "VmHWM:     123456 kB"
                var rest = line[key.Length..].Trim();
                var end = rest.IndexOf(' ', StringComparison.Ordinal);
                return long.TryParse(end < 0 ? rest : rest[..end], out var kb) ? kb : 0;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return 0;
    }

    public void Dispose()
    {
        _stop = true;
        _thread?.Join();
        _statm?.Dispose();
    }
}
