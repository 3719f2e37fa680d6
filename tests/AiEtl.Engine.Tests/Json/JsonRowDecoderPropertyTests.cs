using System.Globalization;
using System.Text;
using System.Text.Json;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Json;
using AiEtl.Engine.Memory;
using Apache.Arrow;
using static AiEtl.Engine.Tests.Json.JsonTestSupport;

namespace AiEtl.Engine.Tests.Json;

/// <summary>Randomized round trips and byte mutations (fixed seeds: failures reproduce).</summary>
public sealed class JsonRowDecoderPropertyTests
{
    private static readonly string[] Columns = ["id", "i", "n", "f", "s", "b", "t", "d", "es", "ems", "eus"];

    private sealed class Generator(int seed)
    {
        private readonly Random _r = new(seed);

        public Random Random => _r;

        /// <summary>A random valid message and the value each column must decode to (formatted like <see cref="Value"/>).</summary>
        public (byte[] Json, object?[] Expected) Row()
        {
            var expected = new object?[Columns.Length];
            var fields = new List<(string Key, string Value)>();
            for (var c = 0; c < Columns.Length; c++)
            {
                var isNull = c != 0 && _r.Next(5) == 0;
                if (isNull)
                {
                    if (_r.Next(2) == 0) fields.Add((Columns[c], "null"));
                    continue;
                }
                var (text, value) = Columns[c] switch
                {
                    "id" or "i" => Int64(),
                    "n" => Int32(),
                    "f" => Float(),
                    "s" => Str(),
                    "b" => _r.Next(2) == 0 ? ("true", (object)true) : ("false", false),
                    "t" => Timestamp(),
                    "d" => Date(),
                    "es" => Epoch(1_000_000),
                    "ems" => Epoch(1_000),
                    _ => Epoch(1),
                };
                fields.Add((Columns[c], text));
                expected[c] = value;
            }
            var unknown = _r.Next(4);
            for (var u = 0; u < unknown; u++) fields.Add(("u" + u + (_r.Next(2) == 0 ? "é" : ""), AnyValue(0)));
            // Shuffle, then render with random whitespace and randomly escaped keys.
            for (var k = fields.Count - 1; k > 0; k--)
            {
                var j = _r.Next(k + 1);
                (fields[k], fields[j]) = (fields[j], fields[k]);
            }
            var sb = new StringBuilder();
            sb.Append(Ws()).Append('{');
            for (var k = 0; k < fields.Count; k++)
            {
                if (k > 0) sb.Append(',');
                sb.Append(Ws()).Append(QuoteKey(fields[k].Key)).Append(Ws()).Append(':').Append(Ws()).Append(fields[k].Value).Append(Ws());
            }
            sb.Append('}').Append(Ws());
            return (Encoding.UTF8.GetBytes(sb.ToString()), expected);
        }

        private string Ws() => _r.Next(4) switch
        {
            0 => " ",
            1 => new[] { " ", "\t", "\r\n", "\n  " }[_r.Next(4)],
            _ => "",
        };

        private string QuoteKey(string key)
        {
            if (_r.Next(6) != 0) return "\"" + key + "\"";
            var i = _r.Next(key.Length);
            return "\"" + key[..i] + $"\\u{(int)key[i]:x4}" + key[(i + 1)..] + "\"";
        }

        private (string, object) Int64()
        {
            var v = _r.Next(6) switch
            {
                0 => long.MinValue + _r.Next(3),
                1 => long.MaxValue - _r.Next(3),
                2 => _r.NextInt64(-(1L << 53) - 10, (1L << 53) + 10),
                3 => _r.Next(-1000, 1000),
                _ => _r.NextInt64(long.MinValue, long.MaxValue),
            };
            return (v.ToString(CultureInfo.InvariantCulture), v);
        }

        private (string, object) Int32()
        {
            var v = _r.Next(4) switch
            {
                0 => int.MinValue + _r.Next(3),
                1 => int.MaxValue - _r.Next(3),
                _ => _r.Next(int.MinValue, int.MaxValue),
            };
            return (v.ToString(CultureInfo.InvariantCulture), v);
        }

        public string NumberText()
        {
            var sb = new StringBuilder();
            if (_r.Next(2) == 0) sb.Append('-');
            var intDigits = _r.Next(1, 22);
            if (_r.Next(4) == 0) sb.Append('0');
            else
            {
                sb.Append((char)('1' + _r.Next(9)));
                for (var k = 1; k < intDigits; k++) sb.Append((char)('0' + _r.Next(10)));
            }
            if (_r.Next(2) == 0)
            {
                sb.Append('.');
                var frac = _r.Next(1, 22);
                for (var k = 0; k < frac; k++) sb.Append((char)('0' + _r.Next(10)));
            }
            if (_r.Next(2) == 0)
            {
                sb.Append(_r.Next(2) == 0 ? 'e' : 'E');
                var sign = _r.Next(3);
                if (sign == 1) sb.Append('+');
                else if (sign == 2) sb.Append('-');
                sb.Append(_r.Next(3) == 0 ? _r.Next(0, 330) : _r.Next(0, 25));
            }
            return sb.ToString();
        }

        private (string, object) Float()
        {
            while (true)
            {
                if (_r.Next(2) == 0)
                {
                    var d = BitConverter.Int64BitsToDouble(_r.NextInt64(long.MinValue, long.MaxValue));
                    if (double.IsFinite(d)) return (d.ToString("R", CultureInfo.InvariantCulture), d);
                }
                else
                {
                    var t = NumberText();
                    var d = double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture);
                    if (double.IsFinite(d)) return (t, d);
                }
            }
        }

        private static readonly string[] Pieces =
        [
            "a", "Z", " ", "/", "\"", "\\", "\0", "\n", "\t", "\u001f", "\u007f", "é", "中", "😀", "\uffff", "\u2028", "\U0010FFFF", "e\u0301",
        ];

        private (string, object) Str()
        {
            var n = _r.Next(_r.Next(8) == 0 ? 80 : 12);
            var value = new StringBuilder();
            var json = new StringBuilder("\"");
            for (var k = 0; k < n; k++)
            {
                var piece = Pieces[_r.Next(Pieces.Length)];
                value.Append(piece);
                foreach (var rune in piece.EnumerateRunes())
                {
                    var cp = rune.Value;
                    if (cp == '"') json.Append("\\\"");
                    else if (cp == '\\') json.Append(_r.Next(2) == 0 ? "\\\\" : "\\u005C");
                    else if (cp == '\n' && _r.Next(2) == 0) json.Append("\\n");
                    else if (cp == '\t' && _r.Next(2) == 0) json.Append("\\t");
                    else if (cp < 0x20 || _r.Next(5) == 0)
                    {
                        var utf16 = new char[2];
                        var len = rune.EncodeToUtf16(utf16);
                        for (var u = 0; u < len; u++)
                            json.Append(_r.Next(2) == 0 ? $"\\u{(int)utf16[u]:x4}" : $"\\u{(int)utf16[u]:X4}");
                    }
                    else if (cp == '/' && _r.Next(2) == 0) json.Append("\\/");
                    else json.Append(rune.ToString());
                }
            }
            json.Append('"');
            return (json.ToString(), value.ToString());
        }

        private (string, object) Timestamp()
        {
            var min = new DateTime(2, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks / 10;
            var max = new DateTime(9998, 12, 31, 0, 0, 0, DateTimeKind.Utc).Ticks / 10;
            var micros = _r.Next(3) == 0 ? _r.NextInt64(-10_000_000_000L, 10_000_000_000L) : _r.NextInt64(min, max) - DateTime.UnixEpoch.Ticks / 10;
            var offsetMinutes = _r.Next(3) == 0 ? 0 : _r.Next(-(23 * 60 + 59), 23 * 60 + 60);
            var local = DateTime.UnixEpoch.AddTicks(micros * 10).AddMinutes(offsetMinutes);
            var sb = new StringBuilder(local.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture));
            var frac = (int)(((micros % 1_000_000) + 1_000_000) % 1_000_000);
            var six = frac.ToString("D6", CultureInfo.InvariantCulture);
            switch (_r.Next(3))
            {
                case 0 when frac == 0: break;
                case 1: sb.Append('.').Append(six).Append(_r.Next(1, 1000).ToString(CultureInfo.InvariantCulture)); break;
                default:
                    var trimmed = six.TrimEnd('0');
                    sb.Append('.').Append(trimmed.Length == 0 ? "0" : trimmed);
                    break;
            }
            if (offsetMinutes == 0 && _r.Next(3) != 0) sb.Append('Z');
            else
            {
                var a = Math.Abs(offsetMinutes);
                sb.Append(offsetMinutes < 0 || (offsetMinutes == 0 && _r.Next(2) == 0) ? '-' : '+')
                  .Append((a / 60).ToString("D2", CultureInfo.InvariantCulture)).Append(':')
                  .Append((a % 60).ToString("D2", CultureInfo.InvariantCulture));
            }
            return ("\"" + sb + "\"", FormatMicros(micros));
        }

        private (string, object) Date()
        {
            var day = DateOnly.FromDayNumber(_r.Next(DateOnly.MinValue.DayNumber, DateOnly.MaxValue.DayNumber + 1));
            var days = day.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;
            return ("\"" + day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + "\"", FormatDays(days));
        }

        private (string, object) Epoch(long scale)
        {
            var maxMicros = DateTime.MaxValue.Ticks / 10 - DateTime.UnixEpoch.Ticks / 10;
            var minMicros = -(DateTime.UnixEpoch.Ticks / 10);
            var v = _r.NextInt64(minMicros / scale, maxMicros / scale);
            return (v.ToString(CultureInfo.InvariantCulture), FormatMicros(v * scale));
        }

        public string AnyValue(int depth)
        {
            switch (_r.Next(depth > 4 ? 5 : 7))
            {
                case 0: return "null";
                case 1: return _r.Next(2) == 0 ? "true" : "false";
                case 2: return NumberText();
                case 3: return Str().Item1;
                case 4: return "\"\"";
                case 5:
                    {
                        var n = _r.Next(4);
                        var parts = new string[n];
                        for (var k = 0; k < n; k++) parts[k] = AnyValue(depth + 1);
                        return "[" + string.Join(",", parts) + "]";
                    }
                default:
                    {
                        var n = _r.Next(4);
                        var parts = new string[n];
                        for (var k = 0; k < n; k++) parts[k] = "\"k" + k + "\":" + AnyValue(depth + 1);
                        return "{" + string.Join(",", parts) + "}";
                    }
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Random_valid_rows_decode_back_to_the_same_values(int seed)
    {
        var gen = new Generator(seed);
        var dec = new JsonRowDecoder(Schema(), Options());
        using var b = new BatchBuilder(Schema(), 64, new BufferPool());
        for (var round = 0; round < 10; round++)
        {
            var rows = new List<(byte[] Json, object?[] Expected)>();
            for (var k = 0; k < 500; k++)
            {
                var row = gen.Row();
                rows.Add(row);
                Assert.True(dec.TryDecode(row.Json, b, out var error), error + " in " + Encoding.UTF8.GetString(row.Json));
            }
            using var batch = b.Build();
            Assert.Equal(rows.Count, batch.Length);
            for (var k = 0; k < rows.Count; k++)
            {
                for (var c = 0; c < Columns.Length; c++)
                {
                    var expected = rows[k].Expected[c];
                    var actual = Value(batch.Column(c), k);
                    var msg = $"row {k} column {Columns[c]} of {Encoding.UTF8.GetString(rows[k].Json)}";
                    if (expected is double d)
                        Assert.True(BitConverter.DoubleToInt64Bits(d) == BitConverter.DoubleToInt64Bits((double)actual!), msg + $": {d:R} vs {actual}");
                    else
                        Assert.True(Equals(expected, actual), msg + $": expected {expected ?? "null"}, got {actual ?? "null"}");
                }
            }
        }
    }

    [Fact]
    public void Float_columns_match_double_Parse_bit_for_bit()
    {
        var gen = new Generator(7);
        var schema = new Schema.Builder().Field(ColumnTypes.Field("f", ColumnKind.Float64)).Build();
        var dec = new JsonRowDecoder(schema);
        using var b = new BatchBuilder(schema, 1024, new BufferPool());
        var texts = new List<string>();
        for (var k = 0; k < 100_000; k++)
        {
            var t = gen.NumberText();
            var expected = double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture);
            var ok = dec.TryDecode(Encoding.UTF8.GetBytes("{\"f\":" + t + "}"), b, out var error);
            if (!double.IsFinite(expected))
            {
                Assert.False(ok, t);
                Assert.Equal(JsonErrorKind.OutOfRange, error.Kind);
                continue;
            }
            Assert.True(ok, t + ": " + error);
            texts.Add(t);
            if (b.Length == 1024) Check();
        }
        Check();

        void Check()
        {
            using var batch = b.Build();
            var col = (DoubleArray)batch.Column(0);
            for (var i = 0; i < batch.Length; i++)
            {
                var expected = double.Parse(texts[i], NumberStyles.Float, CultureInfo.InvariantCulture);
                Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(col.GetValue(i)!.Value), texts[i]);
            }
            texts.Clear();
        }
    }

    private static readonly byte[] Interesting =
        [(byte)'"', (byte)'\\', (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)',', (byte)':', (byte)'0', (byte)'-',
         (byte)'e', (byte)'.', (byte)' ', (byte)'u', (byte)'n', 0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xED, 0xEF, 0xF0, 0xF4, 0xFF];

    private static byte[] Mutate(Random r, byte[] src)
    {
        var m = new List<byte>(src);
        var times = r.Next(1, 4);
        for (var t = 0; t < times && m.Count > 0; t++)
        {
            var at = r.Next(m.Count);
            switch (r.Next(7))
            {
                case 0: m[at] ^= (byte)(1 << r.Next(8)); break;
                case 1: m[at] = Interesting[r.Next(Interesting.Length)]; break;
                case 2: m.RemoveAt(at); break;
                case 3: m.Insert(at, Interesting[r.Next(Interesting.Length)]); break;
                case 4: m.RemoveRange(at, m.Count - at); break;
                case 5:
                    {
                        var len = Math.Min(r.Next(1, 12), m.Count - at);
                        m.InsertRange(r.Next(m.Count), m.GetRange(at, len));
                        break;
                    }
                default: m[at] = (byte)r.Next(256); break;
            }
        }
        return [.. m];
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public void Random_mutations_never_throw_and_never_leave_a_partial_row(int seed)
    {
        var gen = new Generator(seed);
        var r = gen.Random;
        var dec = new JsonRowDecoder(Schema(), Options());
        using var b = new BatchBuilder(Schema(), 32, new BufferPool());
        var docOptions = new JsonDocumentOptions { MaxDepth = 256 };
        int accepted = 0, rejected = 0;
        for (var k = 0; k < 20_000; k++)
        {
            var msg = Mutate(r, gen.Row().Json);
            var before = b.Length;
            var ok = dec.TryDecode(msg, b, out var error);
            for (var c = 0; c < b.ColumnCount; c++)
            {
                if (b[c].Length != before + (ok ? 1 : 0))
                    Assert.Fail($"column {c} length {b[c].Length} after {(ok ? "success" : error.ToString())} on {Convert.ToHexString(msg)}");
            }
            if (ok)
            {
                accepted++;
                // Whatever we accept is valid UTF-8 and valid JSON (an independent parser agrees), with
                // distinct top-level keys.
                Assert.True(System.Text.Unicode.Utf8.IsValid(msg), Convert.ToHexString(msg));
                using var doc = JsonDocument.Parse(msg, docOptions);
                Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
                var names = doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
                Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
            }
            else
            {
                rejected++;
                Assert.NotEqual(JsonErrorKind.None, error.Kind);
                Assert.InRange(error.Offset, 0, msg.Length);
                Assert.False(string.IsNullOrEmpty(error.Message));
                if (error.Kind == JsonErrorKind.Syntax)
                {
                    // A syntax verdict must be shared by the independent parser, unless the text is valid
                    // JSON whose top level is not an object.
                    JsonDocument? doc = null;
                    try { doc = JsonDocument.Parse(msg, docOptions); }
                    catch (JsonException) { }
                    if (doc != null)
                    {
                        using (doc) Assert.True(doc.RootElement.ValueKind != JsonValueKind.Object, $"{error} on {Encoding.UTF8.GetString(msg)}");
                    }
                }
            }
            if (b.Length >= 30) b.Build().Dispose();
        }
        Assert.True(accepted > 100 && rejected > 1000, $"accepted {accepted}, rejected {rejected}");
    }
}
