using System.Text;

namespace AiEtl.Engine.Postgres;

/// <summary>
/// Where a CDC reader stands, as stored in checkpoints: during the initial snapshot only the slot (an interrupted
/// snapshot starts over with a new slot); while streaming the last delivered transaction's commit LSN (changes up
/// to it are dropped on replay) and end LSN (what the slot may confirm).
/// </summary>
internal sealed record CdcPosition(bool Streaming, string Slot, ulong ConsistentPoint, ulong CommitLsn, ulong EndLsn, IReadOnlyList<string> Tables)
{
    private const byte Version = 1;

    public byte[] Serialize()
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Version);
            w.Write(Streaming);
            w.Write(Slot);
            w.Write(ConsistentPoint);
            w.Write(CommitLsn);
            w.Write(EndLsn);
            w.Write(Tables.Count);
            foreach (var t in Tables) w.Write(t);
        }
        return ms.ToArray();
    }

    public static CdcPosition Parse(ReadOnlySpan<byte> bytes)
    {
        using var ms = new MemoryStream(bytes.ToArray());
        using var r = new BinaryReader(ms, Encoding.UTF8);
        var v = r.ReadByte();
        if (v != Version) throw new InvalidDataException($"postgres_cdc position version {v} is not supported (expected {Version})");
        var streaming = r.ReadBoolean();
        var slot = r.ReadString();
        var cp = r.ReadUInt64();
        var commit = r.ReadUInt64();
        var end = r.ReadUInt64();
        var n = r.ReadInt32();
        var tables = new List<string>(n);
        for (var i = 0; i < n; i++) tables.Add(r.ReadString());
        return new CdcPosition(streaming, slot, cp, commit, end, tables);
    }

    public static string Lsn(ulong v) => $"{v >> 32:X}/{v & 0xFFFFFFFF:X}";
}
