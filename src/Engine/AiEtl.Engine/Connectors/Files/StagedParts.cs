using System.Runtime.InteropServices;
using System.Text.Json;

namespace AiEtl.Engine.Connectors.Files;

/// <summary>File-system steps that must survive a crash: fsync of files and of directory entries.</summary>
internal static partial class DurableFs
{
    private static bool s_noLibc;

    /// <summary>
    /// Makes renames and creations inside <paramref name="directory"/> durable. Linux only (elsewhere, and where
    /// no C library named <c>libc</c> can be loaded, it does nothing: the rename itself is still atomic).
    /// </summary>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() || s_noLibc) return;
        int fd;
        try
        {
            fd = Open(directory, 0 /* O_RDONLY */);
        }
        catch (DllNotFoundException)
        {
            s_noLibc = true;
            return;
        }
        if (fd < 0) throw new IOException($"cannot open directory {directory} to sync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>Atomic rename, then the directory entry is synced.</summary>
    public static void Rename(string from, string to)
    {
        File.Move(from, to, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(to))!);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}

/// <summary>
/// The part files of one writer instance in a directory, staged for two-phase commit:
/// <list type="bullet">
/// <item><c>{prefix}{ext}.inprogress</c> — being written since the last barrier (never visible);</item>
/// <item><c>{prefix}-{checkpointId:D10}{ext}.pending</c> — pre-committed at a barrier, durable, waiting for commit;</item>
/// <item><c>{prefix}-{checkpointId:D10}{ext}</c> — committed. Zero-padded ids make name order checkpoint order.</item>
/// </list>
/// </summary>
internal sealed class StagedParts
{
    private readonly string _dir;
    private readonly string _prefix;
    private readonly string _ext;
    private readonly List<(long Checkpoint, string Name)> _pending = [];

    public StagedParts(string directory, string prefix, string extension)
    {
        _dir = directory;
        _prefix = prefix;
        _ext = extension;
    }

    public string Directory => _dir;
    public string InProgressPath => Path.Combine(_dir, _prefix + _ext + ".inprogress");
    public string FinalName(long checkpointId) => $"{_prefix}-{checkpointId:D10}{_ext}";

    /// <summary>
    /// Restores after a restart: <paramref name="pending"/> null means a fresh run (every file of this
    /// instance is removed); otherwise the listed pre-committed parts are committed (idempotently) and stray
    /// in-progress or pending parts newer than the checkpoint are deleted.
    /// </summary>
    public void Restore(IReadOnlyList<string>? pending)
    {
        System.IO.Directory.CreateDirectory(_dir);
        _pending.Clear();
        var listed = new HashSet<string>(pending ?? [], StringComparer.Ordinal);
        foreach (var name in listed)
        {
            var final = Path.Combine(_dir, name);
            var staged = final + ".pending";
            if (File.Exists(staged)) File.Move(staged, final, overwrite: true);
            else if (!File.Exists(final))
                throw new IOException($"part file {final} of a completed checkpoint is missing (neither committed nor pending)");
        }
        foreach (var path in System.IO.Directory.EnumerateFiles(_dir))
        {
            var name = Path.GetFileName(path);
            if (name == _prefix + _ext + ".inprogress") File.Delete(path);
            else if (name.EndsWith(".pending", StringComparison.Ordinal) && IsOwnPart(name[..^".pending".Length])) File.Delete(path);
            else if (pending == null && IsOwnPart(name)) File.Delete(path);
        }
        DurableFs.SyncDirectory(_dir);
    }

    private bool IsOwnPart(string name)
    {
        if (!name.StartsWith(_prefix + "-", StringComparison.Ordinal) || !name.EndsWith(_ext, StringComparison.Ordinal)) return false;
        var id = name.AsSpan(_prefix.Length + 1, name.Length - _prefix.Length - 1 - _ext.Length);
        if (id.IsEmpty) return false;
        foreach (var ch in id)
            if (!char.IsAsciiDigit(ch)) return false;
        return true;
    }

    /// <summary>The (already flushed, fsynced and closed) in-progress file becomes the pending part of a checkpoint.</summary>
    public void Stage(long checkpointId)
    {
        var name = FinalName(checkpointId);
        DurableFs.Rename(InProgressPath, Path.Combine(_dir, name + ".pending"));
        _pending.Add((checkpointId, name));
    }

    /// <summary>Names of parts pre-committed but not yet committed (the writer's checkpoint state).</summary>
    public IReadOnlyList<string> PendingNames => [.. _pending.Select(p => p.Name)];

    /// <summary>Commits every part pre-committed at or before <paramref name="checkpointId"/>.</summary>
    public void Commit(long checkpointId)
    {
        var any = false;
        for (var i = 0; i < _pending.Count; i++)
        {
            var (cp, name) = _pending[i];
            if (cp > checkpointId) continue;
            var final = Path.Combine(_dir, name);
            File.Move(final + ".pending", final, overwrite: true);
            _pending.RemoveAt(i--);
            any = true;
        }
        if (any) DurableFs.SyncDirectory(_dir);
    }
}

/// <summary>The checkpoint state of file sink writers, as small JSON (readable when debugging a checkpoint).</summary>
internal static class FileSinkState
{
    public static byte[] ForLength(long committedLength)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("v", 1);
            w.WriteString("mode", "file");
            w.WriteNumber("length", committedLength);
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    public static byte[] ForParts(IReadOnlyList<string> pending)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("v", 1);
            w.WriteString("mode", "parts");
            w.WriteStartArray("pending");
            foreach (var p in pending) w.WriteStringValue(p);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    public static long ReadLength(byte[] state)
    {
        using var doc = Parse(state, "file");
        return doc.RootElement.GetProperty("length").GetInt64();
    }

    public static IReadOnlyList<string> ReadParts(byte[] state)
    {
        using var doc = Parse(state, "parts");
        var list = new List<string>();
        foreach (var e in doc.RootElement.GetProperty("pending").EnumerateArray())
        {
            var name = e.GetString() ?? throw new InvalidDataException("file sink state: null part name");
            if (name.Contains('/') || name.Contains('\\') || name is "." or "..")
                throw new InvalidDataException($"file sink state: invalid part name '{name}'");
            list.Add(name);
        }
        return list;
    }

    private static JsonDocument Parse(byte[] state, string mode)
    {
        var doc = JsonDocument.Parse(state);
        var root = doc.RootElement;
        if (!root.TryGetProperty("v", out var v) || v.GetInt32() != 1 || root.GetProperty("mode").GetString() != mode)
        {
            doc.Dispose();
            throw new InvalidDataException($"file sink state is not a version-1 '{mode}' state; was the sink's path or mode changed between runs?");
        }
        return doc;
    }
}
