using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kernels;
using AiEtl.Engine.Runtime;
using Apache.Arrow;

namespace AiEtl.Engine.Operators;

/// <summary>
/// Keyed running count: appends a column holding, for each row, how many rows with the same key this
/// operator has seen so far (1, 2, 3 …). The counts are keyed state: they live in checkpoints, so a restart
/// continues the sequence exactly. Runs behind a hash edge on the key.
/// </summary>
public sealed class RunningCountOperator : Operator
{
    private readonly int _key;
    private readonly ColumnKind _keyKind;
    private readonly Dictionary<long, long> _longCounts = [];
    private readonly Dictionary<string, long> _stringCounts = new(StringComparer.Ordinal);
    private readonly BatchAssembler _asm = new();
    private IArrowArray[] _cols = [];
    private char[] _chars = new char[256];
    private long _nullCount;

    public RunningCountOperator(Schema input, string keyColumn, string outputColumn)
    {
        _key = input.GetFieldIndex(keyColumn);
        if (_key < 0) throw new ArgumentException($"running_count: unknown key column '{keyColumn}'");
        _keyKind = ColumnTypes.FromArrow(input.FieldsList[_key].DataType);
        if (_keyKind is ColumnKind.Float64 or ColumnKind.Bool) throw new ArgumentException($"running_count: key column '{keyColumn}' must be an integer, string, date or timestamp");
        if (input.GetFieldIndex(outputColumn) >= 0) throw new ArgumentException($"running_count: output column '{outputColumn}' already exists");
        KeyColumn = keyColumn;
        OutputColumn = outputColumn;
        OutputSchema = new Schema([.. input.FieldsList, ColumnTypes.Field(outputColumn, ColumnKind.Int64, nullable: false)], null);
    }

    public string KeyColumn { get; }
    public string OutputColumn { get; }
    public int KeyIndex => _key;
    public override string Name => "running_count";
    public override bool IsStateful => true;
    public override Schema OutputSchema { get; }
    public override string Describe() => $"running_count by {KeyColumn} as {OutputColumn} (keyed state)";
    public override string? StateIdentity => $"running_count by {KeyColumn} {_keyKind}";
    public override bool CanRescale => true;

    public override ValueTask OpenRescaledAsync(OperatorContext context, IReadOnlyList<byte[]> states, int index, int parallelism, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(states);
        // Each key lived in exactly one old instance: merge all, keep the keys the hash edge now sends here.
        foreach (var s in states) Restore(s);
        var seed = KeyHash.Seed;
        foreach (var k in _longCounts.Keys.ToList())
            if (KeyHash.Partition(KeyHash.Mix(seed, (ulong)k), parallelism) != index) _longCounts.Remove(k);
        foreach (var k in _stringCounts.Keys.ToList())
            if (KeyHash.Partition(KeyHash.Mix(seed, System.IO.Hashing.XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(k))), parallelism) != index) _stringCounts.Remove(k);
        if (KeyHash.Partition(KeyHash.Mix(seed, KeyHash.NullValue), parallelism) != index) _nullCount = 0;
        return default;
    }

    public override ValueTask OpenAsync(OperatorContext context, byte[]? restoredState, CancellationToken ct)
    {
        if (restoredState != null) Restore(restoredState);
        return default;
    }

    public override async ValueTask ProcessAsync(Batch batch, IOutput output, CancellationToken ct)
    {
        var n = batch.Length;
        var asm = _asm;
        var buf = asm.Rent(Math.Max(n * 8, 8));
        var seq = buf.As<long>();
        var col = batch.Column(_key);
        switch (_keyKind)
        {
            case ColumnKind.String:
            {
                // Looked up by the decoded characters: a string is allocated only for a key seen for the first time.
                var s = (StringArray)col;
                var lookup = _stringCounts.GetAlternateLookup<ReadOnlySpan<char>>();
                for (var i = 0; i < n; i++)
                {
                    if (s.IsNull(i)) { seq[i] = ++_nullCount; continue; }
                    var bytes = s.GetBytes(i);
                    if (_chars.Length < bytes.Length) _chars = new char[Math.Max(bytes.Length, _chars.Length * 2)];
                    var key = _chars.AsSpan(0, Encoding.UTF8.GetChars(bytes, _chars));
                    ref var c = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(lookup, key, out _);
                    seq[i] = ++c;
                }
                break;
            }
            default:
            {
                var wide = _keyKind is ColumnKind.Int64 or ColumnKind.Timestamp;
                var l = wide ? Gather.Values<long>(col) : default;
                var s = wide ? default : Gather.Values<int>(col);
                var bits = col.Data.Buffers[0].Span;
                var off = col.Data.Offset;
                for (var i = 0; i < n; i++)
                {
                    if (!Gather.IsValid(bits, off, i)) { seq[i] = ++_nullCount; continue; }
                    var key = wide ? l[i] : s[i];
                    ref var c = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_longCounts, key, out _);
                    seq[i] = ++c;
                }
                break;
            }
        }
        if (_cols.Length != batch.Data.ColumnCount + 1) _cols = new IArrowArray[batch.Data.ColumnCount + 1];
        var cols = _cols;
        for (var i = 0; i < batch.Data.ColumnCount; i++)
        {
            cols[i] = batch.Column(i);
            asm.AddBorrowed(cols[i]);
        }
        cols[^1] = asm.Fixed(ColumnKind.Int64, n, buf, null, 0);
        // RecordBatch copies the column list: the array is reused for the next batch.
        var result = asm.Build(OutputSchema, cols, n);
        System.Array.Clear(cols);
        result.DependOn(batch);
        batch.Dispose();
        await output.EmitAsync(result, ct).ConfigureAwait(false);
    }

    public override ValueTask<byte[]?> SnapshotAsync(long checkpointId, CancellationToken ct)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write((byte)1);
            w.Write(_nullCount);
            w.Write(_longCounts.Count);
            foreach (var (k, v) in _longCounts) { w.Write(k); w.Write(v); }
            w.Write(_stringCounts.Count);
            foreach (var (k, v) in _stringCounts) { w.Write(k); w.Write(v); }
        }
        return ValueTask.FromResult<byte[]?>(ms.ToArray());
    }

    private void Restore(byte[] state)
    {
        using var r = new BinaryReader(new MemoryStream(state), Encoding.UTF8);
        if (r.ReadByte() != 1) throw new InvalidDataException("running_count: unknown state version");
        _nullCount += r.ReadInt64();
        var n = r.ReadInt32();
        for (var i = 0; i < n; i++) _longCounts[r.ReadInt64()] = r.ReadInt64();
        n = r.ReadInt32();
        for (var i = 0; i < n; i++) _stringCounts[r.ReadString()] = r.ReadInt64();
    }
}
