using Microsoft.Win32.SafeHandles;

namespace AiEtl.Bench.Harness;

/// <summary>
/// Reads <c>VmRSS</c> from <c>/proc/self/status</c> through one open handle into a fixed buffer, so that
/// sampling allocates nothing (a sampler running next to a measured run must not show up in its allocation).
/// </summary>
public sealed class VmRssReader : IDisposable
{
    private static ReadOnlySpan<byte> Key => "VmRSS:"u8;
    private readonly SafeFileHandle? _status;
    private readonly byte[] _buffer = new byte[8192];
    private readonly Lock _gate = new();

    public VmRssReader()
    {
        try
        {
            _status = File.OpenHandle("/proc/self/status");
        }
        catch (IOException)
        {
            _status = null;
        }
        catch (UnauthorizedAccessException)
        {
            _status = null;
        }
    }

    /// <summary>False where <c>/proc</c> is missing (not Linux): <see cref="Read"/> then returns 0.</summary>
    public bool Available => _status != null;

    /// <summary>The current resident set in bytes, or 0 when unknown.</summary>
    public long Read()
    {
        if (_status == null) return 0;
        lock (_gate)
        {
            var n = RandomAccess.Read(_status, _buffer, 0);
            var text = _buffer.AsSpan(0, n);
            var at = text.IndexOf(Key);
            if (at < 0) return 0;
            var i = at + Key.Length;
            while (i < n && text[i] is (byte)' ' or (byte)'\t') i++;
            long kb = 0;
            while (i < n && text[i] is >= (byte)'0' and <= (byte)'9') kb = kb * 10 + (text[i++] - '0');
            return kb * 1024;
        }
    }

    public void Dispose() => _status?.Dispose();
}
