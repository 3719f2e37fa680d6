using System.Globalization;
using System.Text;

namespace AiEtl.Engine.Runtime;

/// <summary>One completed checkpoint: every task's operator states and source positions.</summary>
public sealed class CheckpointData
{
    public const int FormatVersion = 1;
    public required long Id { get; init; }
    public required string PlanFingerprint { get; init; }
    public required DateTime CreatedUtc { get; init; }
    /// <summary>Key: <c>vertex/instance/slot</c> where slot is an operator index or <c>source</c>.</summary>
    public required IReadOnlyDictionary<string, byte[]> States { get; init; }

    public static string Key(string vertex, int instance, string slot) => $"{vertex}/{instance.ToString(CultureInfo.InvariantCulture)}/{slot}";

    public long SizeBytes => States.Values.Sum(v => (long)v.Length);
}

/// <summary>Where checkpoints are kept.</summary>
public interface ICheckpointStore
{
    /// <summary>Writes a checkpoint atomically: either all of it is visible afterwards or none.</summary>
    void Write(CheckpointData checkpoint);
    /// <summary>The newest complete checkpoint, or null.</summary>
    CheckpointData? LoadLatest();
}

/// <summary>Keeps checkpoints in memory only (no restart recovery); used when no directory is configured.</summary>
public sealed class InMemoryCheckpointStore : ICheckpointStore
{
    private CheckpointData? _latest;
    public void Write(CheckpointData checkpoint) => _latest = checkpoint;
    public CheckpointData? LoadLatest() => _latest;
}

/// <summary>
/// Checkpoints in a local directory, one file each (<c>chk-0000000042.ckpt</c>), written to a temp file,
/// fsynced and renamed into place (atomic), the directory fsynced; the newest <c>keep</c> are kept.
/// </summary>
public sealed class DirectoryCheckpointStore : ICheckpointStore
{
    private static readonly byte[] Magic = "AIETLCK\0"u8.ToArray();
    private readonly string _dir;
    private readonly int _keep;

    public DirectoryCheckpointStore(string dir, int keep = 3)
    {
        _dir = dir;
        _keep = Math.Max(1, keep);
        Directory.CreateDirectory(dir);
    }

    public string DirectoryPath => _dir;

    private string PathOf(long id) => Path.Combine(_dir, $"chk-{id:D10}.ckpt");

    public void Write(CheckpointData checkpoint)
    {
        var final = PathOf(checkpoint.Id);
        var tmp = final + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            using (var w = new BinaryWriter(fs, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Magic);
                w.Write(CheckpointData.FormatVersion);
                w.Write(checkpoint.Id);
                w.Write(checkpoint.PlanFingerprint);
                w.Write(checkpoint.CreatedUtc.Ticks);
                w.Write(checkpoint.States.Count);
                foreach (var (k, v) in checkpoint.States.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    w.Write(k);
                    w.Write(v.Length);
                    w.Write(v);
                }
                w.Write(Magic); // trailer: a torn file never parses
            }
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, final, overwrite: true);
        FsyncDirectory(_dir);
        Prune();
    }

    private void Prune()
    {
        var files = ListComplete();
        foreach (var (_, path) in files.Take(Math.Max(0, files.Count - _keep)))
        {
            try { File.Delete(path); } catch (IOException) { }
        }
        foreach (var tmp in System.IO.Directory.EnumerateFiles(_dir, "chk-*.ckpt.tmp"))
        {
            try { File.Delete(tmp); } catch (IOException) { }
        }
    }

    private List<(long Id, string Path)> ListComplete() =>
        System.IO.Directory.EnumerateFiles(_dir, "chk-*.ckpt")
            .Select(p => (ok: long.TryParse(Path.GetFileNameWithoutExtension(p).AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out var id), id, p))
            .Where(x => x.ok)
            .OrderBy(x => x.id)
            .Select(x => (x.id, x.p))
            .ToList();

    public CheckpointData? LoadLatest()
    {
        foreach (var (_, path) in Enumerable.Reverse(ListComplete()))
        {
            var c = TryRead(path);
            if (c != null) return c;
        }
        return null;
    }

    private static CheckpointData? TryRead(string path)
    {
        try
        {
            using var fs = File.OpenRead(path);
            using var r = new BinaryReader(fs, Encoding.UTF8);
            if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) return null;
            var version = r.ReadInt32();
            if (version != CheckpointData.FormatVersion)
                throw new InvalidDataException($"checkpoint {path} has format version {version}; this build reads version {CheckpointData.FormatVersion}");
            var id = r.ReadInt64();
            var fp = r.ReadString();
            var ticks = r.ReadInt64();
            var n = r.ReadInt32();
            var states = new Dictionary<string, byte[]>(n, StringComparer.Ordinal);
            for (var i = 0; i < n; i++)
            {
                var k = r.ReadString();
                var len = r.ReadInt32();
                states[k] = r.ReadBytes(len);
            }
            if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) return null;
            return new CheckpointData { Id = id, PlanFingerprint = fp, CreatedUtc = new DateTime(ticks, DateTimeKind.Utc), States = states };
        }
        catch (EndOfStreamException)
        {
            return null;
        }
    }

    private static void FsyncDirectory(string dir)
    {
        try
        {
            using var h = File.OpenHandle(dir, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.None);
            RandomAccess.FlushToDisk(h);
        }
        catch (UnauthorizedAccessException)
        {
        }
        catch (IOException)
        {
        }
    }
}
