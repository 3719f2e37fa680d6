using System.Buffers.Binary;
using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Kafka.Avro;
using AiEtl.TestSupport;
using Apache.Arrow;
using static AiEtl.Integration.Tests.Kafka.AvroWriter;

namespace AiEtl.Integration.Tests.Kafka;

/// <summary>
/// The Avro decoder on its own: messages written by Confluent's AvroSerializer (schemas registered in the schema
/// registry stand-in of AiEtl.TestSupport — there is no Java registry on these machines) decoded into Arrow columns.
/// </summary>
public sealed class AvroRowDecoderTests : IAsyncLifetime
{
    private const string EdgeSchema = """
        {"type":"record","name":"Edge","namespace":"t","fields":[
          {"name":"l","type":"long"},
          {"name":"i","type":"int"},
          {"name":"d","type":"double"},
          {"name":"f","type":"float"},
          {"name":"b","type":"boolean"},
          {"name":"s","type":"string"},
          {"name":"by","type":"bytes"},
          {"name":"e","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}},
          {"name":"tms","type":{"type":"long","logicalType":"timestamp-millis"}},
          {"name":"tus","type":{"type":"long","logicalType":"timestamp-micros"}},
          {"name":"dt","type":{"type":"int","logicalType":"date"}},
          {"name":"ns","type":["null","string"]},
          {"name":"sn","type":["string","null"]},
          {"name":"nl","type":["null","long"]},
          {"name":"ln","type":["long","null"]}
        ]}
        """;

    private SchemaRegistryStandIn _registry = null!;
    private AvroWriter _writer = null!;
    private SchemaRegistryProvider _provider = null!;

    public ValueTask InitializeAsync()
    {
        _registry = SchemaRegistryStandIn.Start();
        _writer = new AvroWriter(_registry.Url);
        _provider = new SchemaRegistryProvider(new AvroRegistryOptions { Url = _registry.Url });
        return default;
    }

    public async ValueTask DisposeAsync()
    {
        _provider.Dispose();
        _writer.Dispose();
        await _registry.DisposeAsync();
    }

    private static readonly DateTime Epoch = DateTime.UnixEpoch;

    private static (long L, int I, double D, float F, bool B, string S, byte[] By, string E, DateTime Tms, DateTime Tus, DateTime Dt, string? Ns, string? Sn, long? Nl, long? Ln)[] EdgeRows { get; } =
    [
        (long.MinValue, int.MinValue, double.MinValue, float.MinValue, false, "", [], "RED", Epoch, Epoch, Epoch, null, null, null, null),
        (long.MaxValue, int.MaxValue, double.MaxValue, float.MaxValue, true, "héllo ✓ 𝄞 \0 end", [0, 255, 1, 128], "BLUE",
            new DateTime(2026, 11, 29, 4, 5, 6, 789, DateTimeKind.Utc), new DateTime(2026, 11, 29, 4, 5, 6, DateTimeKind.Utc).AddTicks(1234560),
            new DateTime(2026, 11, 29, 0, 0, 0, DateTimeKind.Utc), "x", "y", -1, 0),
        (-1, -1, -0.0, -1.5f, true, "a", [7], "GREEN", new DateTime(1969, 12, 31, 23, 59, 59, 999, DateTimeKind.Utc),
            new DateTime(1, 1, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(1900, 1, 1, 0, 0, 0, DateTimeKind.Utc), "", "", long.MinValue, long.MaxValue),
        (-64, -65, double.Epsilon, float.Epsilon, false, new string('z', 300), new byte[300], "RED", Epoch.AddMilliseconds(1), Epoch.AddTicks(10),
            new DateTime(9999, 12, 31, 0, 0, 0, DateTimeKind.Utc), "日本語", "ж", 63, -64),
        (64, 8191, 1e-300, 3.25f, true, "\u00e9\u0301", [1, 2, 3], "BLUE", Epoch.AddMilliseconds(-1), Epoch.AddTicks(-10), Epoch.AddDays(-1), null, "n", 64, -65),
    ];

    private byte[] Edge(string topic, int k)
    {
        var schema = Parse(EdgeSchema);
        var r = EdgeRows[k];
        return _writer.Serialize(topic, Record(schema,
            ("l", r.L), ("i", r.I), ("d", r.D), ("f", r.F), ("b", r.B), ("s", r.S), ("by", r.By), ("e", AvroWriter.Enum(schema, "e", r.E)),
            ("tms", r.Tms), ("tus", r.Tus), ("dt", r.Dt), ("ns", r.Ns), ("sn", r.Sn), ("nl", r.Nl), ("ln", r.Ln)));
    }

    private static long Micros(DateTime t) => (t - Epoch).Ticks / 10;

    [Fact]
    public void Edge_values_written_by_confluents_serializer_decode_exactly()
    {
        var messages = Enumerable.Range(0, EdgeRows.Length).Select(k => Edge("edge", k)).ToList();
        var reader = AvroReaderSchema.FromAvro(_provider.GetLatestSchema("edge-value"));
        Assert.Equal(
            ["l int64 req", "i int32 req", "d float64 req", "f float64 req", "b bool req", "s string req", "by string req", "e string req",
             "tms timestamp req", "tus timestamp req", "dt date req", "ns string null", "sn string null", "nl int64 null", "ln int64 null"],
            reader.Arrow.FieldsList.Select(f => $"{f.Name} {ColumnTypes.Name(ColumnTypes.FromArrow(f.DataType))} {(f.IsNullable ? "null" : "req")}"));
        var decoder = new AvroRowDecoder(reader, _provider);
        using var builder = new BatchBuilder(reader.Arrow, 16);
        foreach (var m in messages) Assert.True(decoder.TryDecode(m, builder), decoder.Error.ToString());
        using var batch = builder.Build();
        var b = batch.Data;
        Assert.Equal(EdgeRows.Length, b.Length);
        for (var k = 0; k < EdgeRows.Length; k++)
        {
            var r = EdgeRows[k];
            Assert.Equal(r.L, ((Int64Array)b.Column(0)).GetValue(k));
            Assert.Equal(r.I, ((Int32Array)b.Column(1)).GetValue(k));
            Assert.Equal(BitConverter.DoubleToInt64Bits(r.D), BitConverter.DoubleToInt64Bits(((DoubleArray)b.Column(2)).GetValue(k)!.Value));
            Assert.Equal((double)r.F, ((DoubleArray)b.Column(3)).GetValue(k));
            Assert.Equal(r.B, ((BooleanArray)b.Column(4)).GetValue(k));
            Assert.Equal(r.S, ((StringArray)b.Column(5)).GetString(k));
            Assert.Equal(Convert.ToBase64String(r.By), ((StringArray)b.Column(6)).GetString(k));
            Assert.Equal(r.E, ((StringArray)b.Column(7)).GetString(k));
            Assert.Equal(Micros(r.Tms), ((TimestampArray)b.Column(8)).GetValue(k));
            Assert.Equal(Micros(r.Tus), ((TimestampArray)b.Column(9)).GetValue(k));
            Assert.Equal((int)(r.Dt - Epoch).TotalDays, ((Date32Array)b.Column(10)).GetValue(k));
            Assert.Equal(r.Ns, ((StringArray)b.Column(11)).GetString(k));
            Assert.Equal(r.Ns is null, b.Column(11).IsNull(k));
            Assert.Equal(r.Sn, ((StringArray)b.Column(12)).GetString(k));
            Assert.Equal(r.Sn is null, b.Column(12).IsNull(k));
            Assert.Equal(r.Nl, ((Int64Array)b.Column(13)).GetValue(k));
            Assert.Equal(r.Ln, ((Int64Array)b.Column(14)).GetValue(k));
        }
        Assert.Equal(1, decoder.SchemaCount);
    }

    [Fact]
    public void Zig_zag_varints_decode_at_every_length_and_sign()
    {
        const string schema = """{"type":"record","name":"L","fields":[{"name":"v","type":"long"},{"name":"w","type":"int"}]}""";
        var rs = Parse(schema);
        var values = new List<long> { 0, -1, 1, -64, 63, -65, 64, long.MinValue, long.MaxValue, long.MinValue + 1, long.MaxValue - 1 };
        for (var shift = 6; shift < 63; shift += 7) values.AddRange([1L << shift, -(1L << shift), (1L << shift) - 1, -(1L << shift) - 1]);
        var ints = values.Select(v => (int)Math.Clamp(v, int.MinValue, int.MaxValue)).ToList();
        var messages = values.Select((v, k) => _writer.Serialize("zz", Record(rs, ("v", v), ("w", ints[k])))).ToList();
        var reader = AvroReaderSchema.FromDeclared(new Schema.Builder()
            .Field(ColumnTypes.Field("v", ColumnKind.Int64, nullable: false))
            .Field(ColumnTypes.Field("w", ColumnKind.Int64, nullable: false)) // int promoted to long
            .Build());
        var decoder = new AvroRowDecoder(reader, _provider);
        using var builder = new BatchBuilder(reader.Arrow, 16);
        foreach (var m in messages) Assert.True(decoder.TryDecode(m, builder), decoder.Error.ToString());
        using var batch = builder.Build();
        Assert.Equal(values, ((Int64Array)batch.Data.Column(0)).Values.ToArray());
        Assert.Equal(ints.Select(i => (long)i), ((Int64Array)batch.Data.Column(1)).Values.ToArray());
    }

    [Fact]
    public void Writer_fields_are_resolved_by_name_extra_ones_skipped_missing_ones_null()
    {
        // Complex fields the reader does not want come first, so the fields after them decode only if they were skipped exactly.
        var writer = Parse("""
            {"type":"record","name":"W","fields":[
              {"name":"id","type":"long"},
              {"name":"nested","type":{"type":"record","name":"N","fields":[{"name":"a","type":"int"},{"name":"arr","type":{"type":"array","items":"string"}}]}},
              {"name":"m","type":{"type":"map","values":"long"}},
              {"name":"qty","type":"int"},
              {"name":"fx","type":{"type":"fixed","name":"F3","size":3}},
              {"name":"u","type":["null",{"type":"record","name":"R2","fields":[{"name":"z","type":"double"}]}]},
              {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
              {"name":"name","type":"string"}
            ]}
            """);
        var n = (RecordSchemaOf: (Avro.RecordSchema)writer["nested"].Schema, R2: (Avro.RecordSchema)((Avro.UnionSchema)writer["u"].Schema).Schemas[1]);
        var fx = (Avro.FixedSchema)writer["fx"].Schema;
        var messages = new List<byte[]>();
        for (var k = 0; k < 4; k++)
        {
            var nested = Record(n.RecordSchemaOf, ("a", k), ("arr", Enumerable.Range(0, k * 3).Select(x => $"s{x}").ToArray()));
            var map = Enumerable.Range(0, k).ToDictionary(x => $"k{x}", x => (object)(long)(x * 1000));
            object? u = k % 2 == 0 ? null : Record(n.R2, ("z", 1.5 * k));
            messages.Add(_writer.Serialize("resolve", Record(writer, ("id", (long)k), ("nested", nested), ("m", map), ("qty", k * 10),
                ("fx", new Avro.Generic.GenericFixed(fx, [1, 2, (byte)k])), ("u", u), ("dec", new Avro.AvroDecimal(12345 + k, 2)), ("name", $"name-{k}"))));
        }
        var reader = AvroReaderSchema.FromDeclared(new Schema.Builder()
            .Field(ColumnTypes.Field("name", ColumnKind.String))
            .Field(ColumnTypes.Field("id", ColumnKind.Int64, nullable: false))
            .Field(ColumnTypes.Field("qty", ColumnKind.Float64)) // int → double
            .Field(ColumnTypes.Field("fx", ColumnKind.String))   // fixed → base64
            .Field(ColumnTypes.Field("missing", ColumnKind.String))
            .Build());
        var decoder = new AvroRowDecoder(reader, _provider);
        using var builder = new BatchBuilder(reader.Arrow, 16);
        foreach (var m in messages) Assert.True(decoder.TryDecode(m, builder), decoder.Error.ToString());
        using var batch = builder.Build();
        var rows = KafkaTestSupport.Rows(batch.Data).ToList();
        Assert.Equal(["name-0|0|0|AQIA|null", "name-1|1|10|AQIB|null", "name-2|2|20|AQIC|null", "name-3|3|30|AQID|null"], rows);

        // A required column the writer lacks, and a column whose type the writer's cannot become: every message fails, none is half-written.
        var strict = new AvroRowDecoder(AvroReaderSchema.FromDeclared(new Schema.Builder()
            .Field(ColumnTypes.Field("id", ColumnKind.Int64, nullable: false))
            .Field(ColumnTypes.Field("gone", ColumnKind.Int64, nullable: false))
            .Build()), _provider);
        using var b2 = new BatchBuilder(new Schema.Builder().Field(ColumnTypes.Field("id", ColumnKind.Int64, nullable: false)).Field(ColumnTypes.Field("gone", ColumnKind.Int64, nullable: false)).Build(), 16);
        Assert.False(strict.TryDecode(messages[0], b2));
        Assert.Equal(AvroErrorKind.MissingRequired, strict.Error.Kind);
        Assert.Equal("gone", strict.Error.Field);
        Assert.Equal("schema", strict.Error.ErrorClass);
        Assert.Equal(0, b2.Length);

        var mismatch = new AvroRowDecoder(AvroReaderSchema.FromDeclared(new Schema.Builder()
            .Field(ColumnTypes.Field("id", ColumnKind.Int64)).Field(ColumnTypes.Field("name", ColumnKind.Int64)).Build()), _provider);
        using var b3 = new BatchBuilder(new Schema.Builder().Field(ColumnTypes.Field("id", ColumnKind.Int64)).Field(ColumnTypes.Field("name", ColumnKind.Int64)).Build(), 16);
        Assert.False(mismatch.TryDecode(messages[1], b3));
        Assert.Equal(AvroErrorKind.TypeMismatch, mismatch.Error.Kind);
        Assert.Equal("name", mismatch.Error.Field);
        Assert.Contains("string", mismatch.Error.Message, StringComparison.Ordinal);
        Assert.Equal(0, b3.Length);
        var dec = new AvroRowDecoder(AvroReaderSchema.FromDeclared(new Schema.Builder().Field(ColumnTypes.Field("dec", ColumnKind.Float64)).Build()), _provider);
        using var b4 = new BatchBuilder(new Schema.Builder().Field(ColumnTypes.Field("dec", ColumnKind.Float64)).Build(), 16);
        Assert.False(dec.TryDecode(messages[1], b4));
        Assert.Equal(AvroErrorKind.TypeMismatch, dec.Error.Kind);
        Assert.Contains("decimal", dec.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Columns_derived_from_the_latest_schema_take_its_defaults_for_older_writers()
    {
        var v1 = Parse("""{"type":"record","name":"O","fields":[{"name":"id","type":"long"},{"name":"old","type":"string"}]}""");
        var v2 = Parse("""
            {"type":"record","name":"O","fields":[
              {"name":"id","type":"long"},
              {"name":"country","type":"string","default":"NL"},
              {"name":"score","type":["null","double"],"default":null},
              {"name":"n","type":"int","default":-7},
              {"name":"flag","type":"boolean","default":true},
              {"name":"ratio","type":"double","default":0.25}
            ]}
            """);
        var old = _writer.Serialize("evolve", Record(v1, ("id", 1L), ("old", "x")));
        var recent = _writer.Serialize("evolve", Record(v2, ("id", 2L), ("country", "DE"), ("score", 9.5), ("n", 3), ("flag", false), ("ratio", 2.0)));
        var reader = AvroReaderSchema.FromAvro(_provider.GetLatestSchema("evolve-value"));
        var decoder = new AvroRowDecoder(reader, _provider);
        using var builder = new BatchBuilder(reader.Arrow, 16);
        Assert.True(decoder.TryDecode(old, builder), decoder.Error.ToString());
        Assert.True(decoder.TryDecode(recent, builder), decoder.Error.ToString());
        using var batch = builder.Build();
        Assert.Equal(["1|NL|null|-7|true|0.25", "2|DE|9.5|3|false|2"], KafkaTestSupport.Rows(batch.Data));
        Assert.Equal(2, decoder.SchemaCount);
    }

    [Fact]
    public void Schemas_whose_fields_no_column_holds_are_refused_naming_the_fields()
    {
        var e = Assert.Throws<AvroSchemaException>(() => AvroReaderSchema.FromAvro("""
            {"type":"record","name":"X","fields":[
              {"name":"ok","type":"long"},
              {"name":"tags","type":{"type":"array","items":"string"}},
              {"name":"attrs","type":{"type":"map","values":"string"}},
              {"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"c","type":"string"}]}},
              {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
              {"name":"either","type":["null","long","string"]}
            ]}
            """));
        foreach (var f in new[] { "'tags'", "'attrs'", "'addr'", "'price'", "'either'" }) Assert.Contains(f, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'ok'", e.Message, StringComparison.Ordinal);
        Assert.Throws<AvroSchemaException>(() => AvroReaderSchema.FromAvro("\"string\""));
    }

    [Fact]
    public void Malformed_messages_fail_with_their_reason_and_leave_the_batch_untouched()
    {
        var good = Edge("bad", 1);
        var reader = AvroReaderSchema.FromAvro(_provider.GetLatestSchema("bad-value"));
        var idS = _registry.Register("bad-s", """{"type":"record","name":"S","fields":[{"name":"s","type":"string"}]}""");
        var idE = _registry.Register("bad-e", """{"type":"record","name":"E","fields":[{"name":"e","type":{"type":"enum","name":"C","symbols":["A","B"]}}]}""");
        var idU = _registry.Register("bad-u", """{"type":"record","name":"U","fields":[{"name":"u","type":["null","long"]}]}""");
        var idI = _registry.Register("bad-i", """{"type":"record","name":"I","fields":[{"name":"i","type":"int"}]}""");
        var idL = _registry.Register("bad-l", """{"type":"record","name":"L","fields":[{"name":"l","type":"long"}]}""");
        var cases = new (string Why, byte[] Message, AvroErrorKind Kind, string Fragment, Schema Columns)[]
        {
            ("wrong magic byte", [1, .. good[1..]], AvroErrorKind.Framing, "magic byte 1", reader.Arrow),
            ("shorter than the header", good[..3], AvroErrorKind.Framing, "shorter than the 5-byte", reader.Arrow),
            ("empty", [], AvroErrorKind.Framing, "0 bytes", reader.Arrow),
            ("unknown schema id", Framed(987654, good[5..]), AvroErrorKind.Schema, "schema id 987654", reader.Arrow),
            ("truncated body", good[..^1], AvroErrorKind.Malformed, "truncated", reader.Arrow),
            ("header only", good[..5], AvroErrorKind.Malformed, "truncated", reader.Arrow),
            ("trailing bytes", [.. good, 0], AvroErrorKind.Malformed, "1 bytes left", reader.Arrow),
            ("string not UTF-8", Framed(idS, [4, 0xC3, 0x28]), AvroErrorKind.Encoding, "UTF-8", Cols(("s", ColumnKind.String))),
            ("string longer than the message", Framed(idS, [40, 0x41]), AvroErrorKind.Malformed, "runs past the end", Cols(("s", ColumnKind.String))),
            ("negative string length", Framed(idS, [3]), AvroErrorKind.Malformed, "negative length", Cols(("s", ColumnKind.String))),
            ("enum index out of range", Framed(idE, [4]), AvroErrorKind.Malformed, "enum index 2", Cols(("e", ColumnKind.String))),
            ("union branch out of range", Framed(idU, [4]), AvroErrorKind.Malformed, "union branch 2", Cols(("u", ColumnKind.Int64))),
            ("varint over 64 bits", Framed(idL, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), AvroErrorKind.Malformed, "64 bits", Cols(("l", ColumnKind.Int64))),
            ("null for a required column", Framed(idU, [0]), AvroErrorKind.MissingRequired, "null", Cols(("u", ColumnKind.Int64, false))),
            ("int beyond 32 bits", Framed(idI, [0x80, 0x80, 0x80, 0x80, 0x20]), AvroErrorKind.OutOfRange, "32 bits", Cols(("i", ColumnKind.Int32))),
        };
        foreach (var (why, message, kind, fragment, columns) in cases)
        {
            var decoder = new AvroRowDecoder(columns == reader.Arrow ? reader : AvroReaderSchema.FromDeclared(columns), _provider);
            using var builder = new BatchBuilder(columns, 16);
            if (columns == reader.Arrow) Assert.True(decoder.TryDecode(good, builder), why);
            var before = builder.Length;
            Assert.False(decoder.TryDecode(message, builder), why);
            Assert.True(kind == decoder.Error.Kind, $"{why}: {decoder.Error}");
            Assert.Contains(fragment, decoder.Error.Message, StringComparison.Ordinal);
            Assert.Equal(before, builder.Length);
            for (var c = 0; c < builder.ColumnCount; c++) Assert.Equal(before, builder[c].Length);
            if (columns == reader.Arrow)
            {
                // The decoder goes on after a failure: the next good message is one whole row.
                Assert.True(decoder.TryDecode(good, builder), why);
                using var batch = builder.Build();
                var rows = KafkaTestSupport.Rows(batch.Data).ToList();
                Assert.Equal(2, rows.Count);
                Assert.Equal(rows[0], rows[1]);
            }
        }
        // A union of null and long read into a bool column: the null branch fits, the long branch is a type mismatch.
        var mismatch = new AvroRowDecoder(AvroReaderSchema.FromDeclared(Cols(("u", ColumnKind.Bool))), _provider);
        using var bm = new BatchBuilder(Cols(("u", ColumnKind.Bool)), 16);
        Assert.True(mismatch.TryDecode(Framed(idU, [0]), bm)); // the null branch fits a nullable bool
        Assert.False(mismatch.TryDecode(Framed(idU, [2, 2]), bm));
        Assert.Equal(AvroErrorKind.TypeMismatch, mismatch.Error.Kind);
    }

    [Fact]
    public void Recursive_writer_types_are_skipped_and_nesting_is_bounded()
    {
        var id = _registry.Register("list-value", """
            {"type":"record","name":"W","fields":[
              {"name":"id","type":"long"},
              {"name":"list","type":["null",{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"]}]}]},
              {"name":"name","type":"string"}
            ]}
            """);
        static byte[] Body(int depth)
        {
            var b = new List<byte> { 0x02 }; // id = 1
            for (var k = 0; k < depth; k++) b.AddRange([0x02, (byte)(k * 2)]); // branch Node, v = k
            b.Add(0x00);                                                          // null: the end of the list
            b.AddRange([0x04, (byte)'o', (byte)'k']);                             // name = "ok"
            return [.. b];
        }
        var columns = Cols(("id", ColumnKind.Int64, false), ("name", ColumnKind.String, true));
        var decoder = new AvroRowDecoder(AvroReaderSchema.FromDeclared(columns), _provider);
        using var builder = new BatchBuilder(columns, 16);
        Assert.True(decoder.TryDecode(Framed(id, Body(0)), builder), decoder.Error.ToString());
        Assert.True(decoder.TryDecode(Framed(id, Body(40)), builder), decoder.Error.ToString());
        Assert.False(decoder.TryDecode(Framed(id, Body(5000)), builder));
        Assert.Equal(AvroErrorKind.Malformed, decoder.Error.Kind);
        Assert.Contains("nested deeper than 64", decoder.Error.Message, StringComparison.Ordinal);
        Assert.Equal("list", decoder.Error.Field);
        using var batch = builder.Build();
        Assert.Equal(["1|ok", "1|ok"], KafkaTestSupport.Rows(batch.Data));
    }

    private static Schema Cols(params (string Name, ColumnKind Kind, bool Nullable)[] columns)
    {
        var b = new Schema.Builder();
        foreach (var (n, k, nullable) in columns) b.Field(ColumnTypes.Field(n, k, nullable));
        return b.Build();
    }

    private static Schema Cols((string Name, ColumnKind Kind) column) => Cols((column.Name, column.Kind, true));

    private static byte[] Framed(int id, byte[] body)
    {
        var m = new byte[5 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(m.AsSpan(1), id);
        body.CopyTo(m, 5);
        return m;
    }

    [Fact]
    public async Task Registry_credentials_are_sent_and_an_unreachable_registry_is_an_error_not_a_dead_letter()
    {
        await using var secured = SchemaRegistryStandIn.Start("etl", "pw-Secret-1");
        var id = secured.Register("s-value", """{"type":"record","name":"S","fields":[{"name":"s","type":"string"}]}""");
        using (var ok = new SchemaRegistryProvider(new AvroRegistryOptions { Url = secured.Url, BasicAuthUser = "etl", BasicAuthPassword = "pw-Secret-1" }))
        {
            Assert.True(ok.TryGetWriterSchema(id, out var text, out _));
            Assert.Contains("\"S\"", text, StringComparison.Ordinal);
            Assert.False(ok.TryGetWriterSchema(id + 100, out _, out var problem));
            Assert.Contains("not found", problem, StringComparison.Ordinal);
        }
        using (var wrong = new SchemaRegistryProvider(new AvroRegistryOptions { Url = secured.Url, BasicAuthUser = "etl", BasicAuthPassword = "nope" }))
        {
            var e = Assert.Throws<KafkaSourceException>(() => wrong.TryGetWriterSchema(id, out _, out _));
            Assert.Contains("401", e.Message, StringComparison.Ordinal);
        }
        var url = secured.Url;
        await secured.DisposeAsync();
        using var down = new SchemaRegistryProvider(new AvroRegistryOptions { Url = url, RequestTimeout = TimeSpan.FromSeconds(5) });
        var decoder = new AvroRowDecoder(AvroReaderSchema.FromDeclared(Cols(("s", ColumnKind.String))), down);
        using var builder = new BatchBuilder(Cols(("s", ColumnKind.String)), 16);
        Assert.Throws<KafkaSourceException>(() => decoder.TryDecode(Framed(id, [2, 0x41]), builder));
        Assert.Equal(0, builder.Length);
    }
}
