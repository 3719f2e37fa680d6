using System.Globalization;
using System.Text;

namespace AiEtl.Engine.Runtime;

/// <summary>
/// What a piece of state belongs to: the state-defining configuration of a stateful operator, source or sink
/// (e.g. <c>running_count by customer_id Int64</c>; the GROUP BY keys, window and aggregates of a window
/// aggregate) and the parallelism it was written with. A later plan restores the state only when its operator
/// of the same uid has the same identity.
/// </summary>
public sealed record OperatorIdentity(string Identity, int Parallelism, string Vertex);

/// <summary>One completed checkpoint: every task's operator states and source positions.</summary>
public sealed class CheckpointData
{
    /// <summary>
    /// 2: states keyed by operator uid (<c>uid/instance</c>) with the plan's per-operator identities.
    /// 1 (still read): states keyed by <c>vertex/instance/slot</c>, restorable only by an identical plan.
    /// </summary>
    public const int FormatVersion = 2;
    public int Version { get; init; } = FormatVersion;
    public required long Id { get; init; }
    /// <summary>Hash of the whole plan's shape (for explain and logs; restores are checked per operator).</summary>
    public required string PlanFingerprint { get; init; }
    public required DateTime CreatedUtc { get; init; }
    /// <summary>Version 2: key <c>uid/instance</c>. Version 1: <c>vertex/instance/slot</c>.</summary>
    public required IReadOnlyDictionary<string, byte[]> States { get; init; }
    /// <summary>Per operator uid: its state identity and parallelism (empty in version-1 checkpoints).</summary>
    public IReadOnlyDictionary<string, OperatorIdentity> Operators { get; init; } = new Dictionary<string, OperatorIdentity>();

    public static string Key(string uid, int instance) => $"{uid}/{instance.ToString(CultureInfo.InvariantCulture)}";
    internal static string LegacyKey(string vertex, int instance, string slot) => $"{vertex}/{instance.ToString(CultureInfo.InvariantCulture)}/{slot}";

    public long SizeBytes => States.Values.Sum(v => (long)v.Length);
}

/// <summary>Where checkpoints are kept.</summary>
public interface ICheckpointStore
{
    /// <summary>Writes a checkpoint atomically: either all of it is visible afterwards or none.</summary>
    void Write(CheckpointData checkpoint);
    /// <summary>The newest complete checkpoint, or null.</summary>
    CheckpointData? LoadLatest();
    /// <summary>Keeps <paramref name="checkpoint"/> as savepoint <paramref name="name"/> (never removed by retention).</summary>
    void WriteSavepoint(string name, CheckpointData checkpoint);
    /// <summary>Savepoint <paramref name="name"/>, or null when there is none.</summary>
    CheckpointData? LoadSavepoint(string name);
    /// <summary>Removes the regular checkpoints (not the savepoints): a fresh start, or a restore from a savepoint.</summary>
    void DiscardCheckpoints();

    /// <summary>A savepoint name: letters, digits, <c>.</c>, <c>_</c>, <c>-</c>; at most 100 characters.</summary>
    public static bool IsValidSavepointName(string name) =>
        name.Length is > 0 and <= 100 && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}

/// <summary>Keeps checkpoints in memory only (no restart recovery); used when no directory is configured.</summary>
public sealed class InMemoryCheckpointStore : ICheckpointStore
{
    private readonly Dictionary<string, CheckpointData> _savepoints = new(StringComparer.Ordinal);
    private CheckpointData? _latest;
    public void Write(CheckpointData checkpoint) => _latest = checkpoint;
    public CheckpointData? LoadLatest() => _latest;
    public void WriteSavepoint(string name, CheckpointData checkpoint) { lock (_savepoints) _savepoints[name] = checkpoint; }
    public CheckpointData? LoadSavepoint(string name) { lock (_savepoints) return _savepoints.GetValueOrDefault(name); }
    public void DiscardCheckpoints() => _latest = null;
}

/// <summary>
/// Checkpoints in a local directory, one file each (<c>chk-0000000042.ckpt</c>), written to a temp file,
/// fsynced and renamed into place (atomic), the directory fsynced; the newest <c>keep</c> are kept.
/// Savepoints (<c>savepoint-NAME.ckpt</c>) are written the same way and never pruned.
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
        WriteFile(PathOf(checkpoint.Id), checkpoint);
        Prune();
    }

    public string SavepointPath(string name) =>
        ICheckpointStore.IsValidSavepointName(name)
            ? Path.Combine(_dir, $"savepoint-{name}.ckpt")
            : throw new ArgumentException($"invalid savepoint name '{name}' (letters, digits, '.', '_', '-')", nameof(name));

    public void WriteSavepoint(string name, CheckpointData checkpoint) => WriteFile(SavepointPath(name), checkpoint);

    public CheckpointData? LoadSavepoint(string name)
    {
        var path = SavepointPath(name);
        return File.Exists(path) ? TryRead(path) ?? throw new InvalidDataException($"savepoint {path} is damaged (truncated or not a checkpoint)") : null;
    }

    public void DiscardCheckpoints()
    {
        foreach (var f in System.IO.Directory.EnumerateFiles(_dir, "chk-*")) File.Delete(f);
    }

    private void WriteFile(string final, CheckpointData checkpoint)
    {
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
                w.Write(checkpoint.Operators.Count);
                foreach (var (uid, op) in checkpoint.Operators.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    w.Write(uid);
                    w.Write(op.Identity);
                    w.Write(op.Parallelism);
                    w.Write(op.Vertex);
                }
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
    }

    private void Prune()
    {
        var files = ListComplete();
        foreach (var (_, path) in files.Take(Math.Max(0, files.Count - _keep)))
        {
            try { File.Delete(path); } catch (IOException) { }
        }
        foreach (var tmp in System.IO.Directory.EnumerateFiles(_dir, "*.ckpt.tmp"))
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
            if (version is < 1 or > CheckpointData.FormatVersion)
                throw new InvalidDataException($"checkpoint {path} has format version {version}; this build reads versions 1 to {CheckpointData.FormatVersion}");
            var id = r.ReadInt64();
            var fp = r.ReadString();
            var ticks = r.ReadInt64();
            var operators = new Dictionary<string, OperatorIdentity>(StringComparer.Ordinal);
            if (version >= 2)
            {
                var ops = r.ReadInt32();
                for (var i = 0; i < ops; i++)
                {
                    var uid = r.ReadString();
                    operators[uid] = new OperatorIdentity(r.ReadString(), r.ReadInt32(), r.ReadString());
                }
            }
            var n = r.ReadInt32();
            var states = new Dictionary<string, byte[]>(n, StringComparer.Ordinal);
            for (var i = 0; i < n; i++)
            {
                var k = r.ReadString();
                var len = r.ReadInt32();
                states[k] = r.ReadBytes(len);
            }
            if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) return null;
            return new CheckpointData { Version = version, Id = id, PlanFingerprint = fp, CreatedUtc = new DateTime(ticks, DateTimeKind.Utc), States = states, Operators = operators };
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
