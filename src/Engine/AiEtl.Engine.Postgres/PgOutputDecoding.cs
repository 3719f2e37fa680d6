using System.Buffers.Binary;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Spec;
using Npgsql;
using Npgsql.Replication;

namespace AiEtl.Engine.Postgres;

/// <summary>
/// The streaming half of the reader: pgoutput protocol 1 messages (PostgreSQL docs, "Logical Replication
/// Message Formats") decoded from the raw XLogData bytes straight into the column builders — integers, floats,
/// booleans, timestamps and dates parsed from their UTF-8 text, text columns copied as bytes; no object per
/// message or value on this path.
/// </summary>
internal sealed partial class PostgresCdcReader
{
    private byte[] _msg = new byte[1 << 16];
    private static readonly DateTime PgEpoch = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly long PgEpochMicros = (PgEpoch.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    private ref struct Cursor(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _d = data;
        public int Pos;
        public byte Byte() => _d[Pos++];
        public short Int16() { var v = BinaryPrimitives.ReadInt16BigEndian(_d[Pos..]); Pos += 2; return v; }
        public int Int32() { var v = BinaryPrimitives.ReadInt32BigEndian(_d[Pos..]); Pos += 4; return v; }
        public long Int64() { var v = BinaryPrimitives.ReadInt64BigEndian(_d[Pos..]); Pos += 8; return v; }
        public ReadOnlySpan<byte> Bytes(int n) { var v = _d.Slice(Pos, n); Pos += n; return v; }
        public string CString()
        {
            var end = _d[Pos..].IndexOf((byte)0);
            var v = Encoding.UTF8.GetString(_d.Slice(Pos, end));
            Pos += end + 1;
            return v;
        }
    }

    private async ValueTask HandleAsync(XLogDataMessage m, CancellationToken ct)
    {
        var len = 0;
        while (true)
        {
            if (len == _msg.Length) System.Array.Resize(ref _msg, _msg.Length * 2);
            var n = await m.Data.ReadAsync(_msg.AsMemory(len), ct).ConfigureAwait(false);
            if (n == 0) break;
            len += n;
        }
        if (len == 0) return;
        switch ((char)_msg[0])
        {
            case 'R':
                var (relid, cols) = ParseRelation(_msg.AsSpan(1, len - 1));
                await OnRelationAsync(relid, cols, ct).ConfigureAwait(false);
                return;
            case 'C':
                _inTx = false;
                if (_skipTx) return;
                var c = new Cursor(_msg.AsSpan(1, len - 1));
                c.Byte();
                _pendingCommit = (ulong)c.Int64();
                _pendingEnd = (ulong)c.Int64();
                if (_builder!.Length >= _o.BatchSize) await FlushAsync(ct).ConfigureAwait(false);
                else if (_builder.Length == 0)
                {
                    _handedCommit = _pendingCommit;
                    await WritePositionAsync(ct).ConfigureAwait(false);
                }
                return;
            default:
                Decode(_msg.AsSpan(0, len));
                return;
        }
    }

    private void Decode(ReadOnlySpan<byte> msg)
    {
        var r = new Cursor(msg);
        switch ((char)r.Byte())
        {
            case 'B':
                _inTx = true;
                _txLsn = (ulong)r.Int64();
                _commitMicros = PgEpochMicros + r.Int64();
                _xid = (uint)r.Int32();
                _skipTx = _txLsn <= _handedCommit;
                _txSeq = 0;
                break;
            case 'I':
            {
                var relid = (uint)r.Int32();
                r.Byte(); // 'N'
                Row('c', relid, ref r, before: '\0');
                break;
            }
            case 'U':
            {
                var relid = (uint)r.Int32();
                var kind = (char)r.Byte();
                if (kind is 'K' or 'O') Row('u', relid, ref r, before: kind); // the new tuple follows
                else Row('u', relid, ref r, before: '\0');
                break;
            }
            case 'D':
            {
                var relid = (uint)r.Int32();
                var kind = (char)r.Byte();
                Row('d', relid, ref r, before: kind == 'K' ? 'k' : 'o');
                break;
            }
            case 'T':
            {
                if (_skipTx) break;
                var n = r.Int32();
                r.Byte();
                for (var i = 0; i < n; i++)
                {
                    if (!_schema.TryGet((uint)r.Int32(), out var table, out _, out _)) continue;
                    Meta('t', table.Qualified);
                    for (var k = CdcColumns.BeforeIdx; k < _builder!.ColumnCount; k++) _builder[k].AppendNull();
                }
                break;
            }
            // 'M' logical messages (heartbeats), 'Y' types, 'O' origins: nothing to emit.
        }
    }

    private void Meta(char op, string table)
    {
        var b = _builder!;
        b[CdcColumns.TableIdx].AppendString(table);
        b[CdcColumns.OpIdx].AppendUtf8(op switch { 'c' => "c"u8, 'u' => "u"u8, 'd' => "d"u8, _ => "t"u8 });
        b[CdcColumns.LsnIdx].AppendInt64((long)_txLsn);
        b[CdcColumns.TxSeqIdx].AppendInt64(_txSeq++);
        b[CdcColumns.CommitTimeIdx].AppendInt64(_commitMicros);
        b[CdcColumns.XidIdx].AppendInt64(_xid);
    }

    /// <summary>
    /// One change. <paramref name="before"/>: 0 none; <c>K</c>/<c>O</c> an update's old key / old row precedes the
    /// new tuple; <c>k</c>/<c>o</c> a delete whose only tuple is the old key / old row (also the before image).
    /// </summary>
    private void Row(char op, uint relid, ref Cursor r, char before)
    {
        if (_skipTx || !_schema.TryGet(relid, out var table, out var map, out var others)) return;
        var b = _builder!;
        var start = b.Length;
        try
        {
            if (_old.Length < table.Columns.Count) _old = new string?[table.Columns.Count];
            System.Array.Clear(_old);
            Meta(op, table.Qualified);
            string? beforeJson = null;
            if (before is 'K' or 'O')
            {
                beforeJson = OldTupleJson(table, ref r, keyOnly: before == 'K');
                r.Byte(); // 'N'
            }
            _toast.Clear();
            Utf8JsonWriter? w = null;
            if (before is 'k' or 'o')
            {
                _json.Clear();
                w = new Utf8JsonWriter(_json);
                w.WriteStartObject();
            }
            var n = r.Int16();
            if (n != table.Columns.Count) throw new InvalidDataException($"{table.Qualified}: a change carried {n} columns, the relation has {table.Columns.Count}");
            for (var i = 0; i < n; i++)
            {
                var col = table.Columns[i];
                var cb = b[map[i]];
                switch ((char)r.Byte())
                {
                    case 'n':
                        cb.AppendNull();
                        break;
                    case 'u':
                        // Under REPLICA IDENTITY FULL the old row carries the value (flattened): use it.
                        if (_old[i] is { } kept) PgTypes.AppendText(cb, col, kept);
                        else
                        {
                            cb.AppendNull();
                            _toast.Add(col.Name);
                        }
                        break;
                    case 't':
                        var v = r.Bytes(r.Int32());
                        AppendValue(cb, col, v);
                        if (w != null && (before == 'o' || table.Key.Contains(col.Name)))
                        {
                            w.WritePropertyName(col.Name);
                            PgTypes.WriteJson(w, col, Encoding.UTF8.GetString(v));
                        }
                        break;
                    default:
                        throw new InvalidDataException($"{table.Qualified}: unexpected tuple value kind (binary values are not requested)");
                }
            }
            if (w != null)
            {
                w.WriteEndObject();
                w.Flush();
                beforeJson = Encoding.UTF8.GetString(_json.WrittenSpan);
                w.Dispose();
            }
            if (beforeJson != null) b[CdcColumns.BeforeIdx].AppendString(beforeJson);
            else b[CdcColumns.BeforeIdx].AppendNull();
            if (_toast.Count > 0)
            {
                var sb = new StringBuilder("[");
                for (var k = 0; k < _toast.Count; k++)
                {
                    if (k > 0) sb.Append(',');
                    PgTypes.AppendJsonString(sb, _toast[k]);
                }
                b[CdcColumns.ToastIdx].AppendString(sb.Append(']').ToString());
            }
            else b[CdcColumns.ToastIdx].AppendNull();
            foreach (var o in others) b[o].AppendNull();
        }
        catch
        {
            b.Truncate(start);
            throw;
        }
    }

    private string OldTupleJson(CdcTable table, ref Cursor r, bool keyOnly)
    {
        _json.Clear();
        using var w = new Utf8JsonWriter(_json);
        w.WriteStartObject();
        var n = r.Int16();
        for (var i = 0; i < n; i++)
        {
            var col = table.Columns[i];
            var kind = (char)r.Byte();
            if (kind == 'u') continue;
            var text = kind == 't' ? Encoding.UTF8.GetString(r.Bytes(r.Int32())) : null;
            if (text != null) _old[i] = text;
            if (keyOnly && !table.Key.Contains(col.Name)) continue;
            w.WritePropertyName(col.Name);
            if (text == null) w.WriteNullValue();
            else PgTypes.WriteJson(w, col, text);
        }
        w.WriteEndObject();
        w.Flush();
        return Encoding.UTF8.GetString(_json.WrittenSpan);
    }

    /// <summary>Appends one text-format value: the common types are parsed from the bytes, text is copied as is.</summary>
    private static void AppendValue(ColumnBuilder b, PgColumn col, ReadOnlySpan<byte> v)
    {
        switch (col.Conv)
        {
            case PgConv.Text when b.Kind == ColumnKind.String:
                b.AppendUtf8(v);
                return;
            case PgConv.Int32 when b.Kind == ColumnKind.Int32 && Utf8Parser.TryParse(v, out int i32, out var n1) && n1 == v.Length:
                b.AppendInt32(i32);
                return;
            case PgConv.Int32 or PgConv.Int64 when b.Kind == ColumnKind.Int64 && Utf8Parser.TryParse(v, out long i64, out var n2) && n2 == v.Length:
                b.AppendInt64(i64);
                return;
            case PgConv.Float64 or PgConv.Float32 when b.Kind == ColumnKind.Float64 && Utf8Parser.TryParse(v, out double d, out var n3) && n3 == v.Length:
                b.AppendDouble(d);
                return;
            case PgConv.Bool when b.Kind == ColumnKind.Bool:
                b.AppendBool(v.Length > 0 && v[0] == (byte)'t');
                return;
            case PgConv.Timestamp or PgConv.TimestampTz when b.Kind == ColumnKind.Timestamp && v.Length <= 64:
                b.AppendInt64(ParseTimestampUtf8(v));
                return;
        }
        PgTypes.AppendText(b, col, Encoding.UTF8.GetString(v));
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static long ParseTimestampUtf8(ReadOnlySpan<byte> v)
    {
        Span<char> chars = stackalloc char[64];
        var n = Encoding.ASCII.GetChars(v, chars);
        return PgTypes.ParseTimestamp(chars[..n]);
    }

    private static (uint RelId, List<(string Name, uint Oid, int TypMod)> Columns) ParseRelation(ReadOnlySpan<byte> body)
    {
        var r = new Cursor(body);
        var relid = (uint)r.Int32();
        r.CString(); // namespace
        r.CString(); // name
        r.Byte();    // replica identity
        var n = r.Int16();
        var cols = new List<(string, uint, int)>(n);
        for (var i = 0; i < n; i++)
        {
            r.Byte(); // flags
            var name = r.CString();
            var oid = (uint)r.Int32();
            var mod = r.Int32();
            cols.Add((name, oid, mod));
        }
        return (relid, cols);
    }

    private async ValueTask OnRelationAsync(uint relid, List<(string Name, uint Oid, int TypMod)> cols, CancellationToken ct)
    {
        if (!_schema.TryGet(relid, out var table, out _, out _)) return;
        var same = cols.Count == table.Columns.Count;
        for (var i = 0; same && i < cols.Count; i++)
        {
            var (a, b) = (cols[i], table.Columns[i]);
            same = a.Name == b.Name && a.Oid == b.TypeOid && a.TypMod == b.TypeMod;
        }
        if (same) return;
        var oldNames = table.Columns.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var newNames = cols.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var added = cols.Where(c => !oldNames.Contains(c.Name)).Select(c => c.Name).ToList();
        var dropped = table.Columns.Where(c => !newNames.Contains(c.Name)).Select(c => c.Name).ToList();
        var changed = cols.Where(c => table.Columns.FirstOrDefault(o => o.Name == c.Name) is { } o && (o.TypeOid != c.Oid || o.TypeMod != c.TypMod)).Select(c => c.Name).ToList();
        var what = string.Join("; ", new[]
        {
            added.Count > 0 ? "added " + string.Join(", ", added) : null,
            dropped.Count > 0 ? "dropped " + string.Join(", ", dropped) : null,
            changed.Count > 0 ? "type changed: " + string.Join(", ", changed) : null,
            added.Count + dropped.Count + changed.Count == 0 ? "columns reordered" : null,
        }.Where(x => x != null));
        if (_o.OnSchemaChange == SchemaChangeMode.Fail)
            throw new CdcSchemaChangedException(
                $"table {table.Qualified} changed at LSN {CdcPosition.Lsn(_txLsn)} ({what}); on_schema_change is fail, so the pipeline stops before this transaction. " +
                "Set on_schema_change: evolve to carry the new columns, or start over with a fresh run (aietl run --fresh)");
        // Evolve: describe the new columns from the catalog, widen the schema, move pending rows over.
        var list = new List<PgColumn>();
        using (var conn = await OpenAsync(ct).ConfigureAwait(false))
        {
            foreach (var c in cols)
            {
                using var cmd = new NpgsqlCommand("SELECT format_type($1::oid, $2), t.typcategory, coalesce(et.typcategory, ' ') FROM pg_type t LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A' WHERE t.oid = $1::oid", conn);
                cmd.Parameters.Add(new NpgsqlParameter { Value = (long)c.Oid });
                cmd.Parameters.Add(new NpgsqlParameter { Value = c.TypMod });
                using var rd = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                if (!await rd.ReadAsync(ct).ConfigureAwait(false)) throw new InvalidOperationException($"type {c.Oid} of {table.Qualified}.{c.Name} is unknown");
                list.Add(new PgColumn(c.Name, c.Oid, c.TypMod, rd.GetString(0), PgTypes.ConvOf(c.Oid, rd.GetChar(1)), rd.GetChar(2)));
            }
        }
        var tables = _schema.Tables.Select(t => t.Oid == table.Oid ? t.With(list) : t).ToList();
        var next = CdcSchema.Build(tables, _schema);
        var old = _builder!;
        var pending = old.Build();
        _builder = new BatchBuilder(next.Arrow, _o.BatchSize);
        old.Dispose();
        try
        {
            BatchCopy.Append(pending, _builder);
        }
        finally
        {
            pending.Dispose();
        }
        _schema = next;
    }
}
