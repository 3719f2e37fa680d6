using System.Text;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Connectors.Files;
using AiEtl.Engine.Tests.Support;

namespace AiEtl.Engine.Tests.Files;

public sealed class CsvFileSourceTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly FileColumn[] Orders =
    [
        new("id", ColumnKind.Int64, Required: true),
        new("name", ColumnKind.String),
        new("amount", ColumnKind.Float64),
        new("ok", ColumnKind.Bool),
    ];

    private static async Task<(List<object?[]> Rows, CollectingDeadLetters Letters)> Read(CsvSourceOptions o, int index = 0, int parallelism = 1)
    {
        var letters = new CollectingDeadLetters();
        var source = new CsvFileSource(o);
        await using var reader = source.CreateReader(Contexts.Create(letters, index, parallelism));
        return (await Batches.ReadAll(reader), letters);
    }

    [Fact]
    public async Task Quoted_fields_keep_delimiters_escaped_quotes_and_line_breaks()
    {
        var path = _dir.Write("a.csv",
            "id,name,amount,ok\r\n" +
            "1,plain,1.5,true\r\n" +
            "2,\"a, b\",2,false\r\n" +
            "3,\"say \"\"hi\"\"\",-0.25,1\n" +
            "4,\"two\nlines\r\nhere\",1e3,0\n" +
            "5,é😀,NaN,TRUE");
        var (rows, letters) = await Read(new CsvSourceOptions { Path = path, Columns = Orders });
        Assert.Empty(letters.Letters);
        Assert.Equal(
            "1|plain|1.5|True\n2|a, b|2|False\n3|say \"hi\"|-0.25|True\n4|two\nlines\r\nhere|1000|False\n5|é😀|NaN|True",
            Batches.Show(rows));
    }

    [Fact]
    public async Task Header_matches_columns_by_name_and_missing_optional_columns_are_null()
    {
        var path = _dir.Write("a.csv", "extra,ok,id\nx,true,1\ny,false,2\n");
        var (rows, letters) = await Read(new CsvSourceOptions { Path = path, Columns = Orders });
        Assert.Empty(letters.Letters);
        Assert.Equal("1|∅|∅|True\n2|∅|∅|False", Batches.Show(rows));
    }

    [Fact]
    public async Task Without_header_fields_are_taken_by_position_with_the_declared_delimiter()
    {
        var path = _dir.Write("a.tsv", "1\tx\t0.5\ttrue\n2\ty\t\t\n");
        var (rows, _) = await Read(new CsvSourceOptions { Path = path, Columns = Orders, Header = false, Delimiter = '\t' });
        Assert.Equal("1|x|0.5|True\n2|y|∅|∅", Batches.Show(rows));
    }

    [Fact]
    public async Task Empty_unquoted_string_is_null_and_quoted_empty_string_is_empty()
    {
        var path = _dir.Write("a.csv", "id,name,amount,ok\n1,,,\n2,\"\",\"\",\n3,\"\"\"\",,\n");
        var (rows, letters) = await Read(new CsvSourceOptions { Path = path, Columns = Orders });
        Assert.Empty(letters.Letters);
        Assert.Null(rows[0][1]);
        Assert.Equal("", rows[1][1]);
        Assert.Null(rows[1][2]);
        Assert.Equal("\"", rows[2][1]);
    }

    [Fact]
    public async Task Bad_records_become_dead_letters_with_position_and_raw_bytes_and_reading_goes_on()
    {
        var content =
            "id,name,amount,ok\n" +      // line 1, offset 0
            "1,good,1,true\n" +          // line 2
            "2,short\n" +                // line 3: wrong field count
            "x,bad int,1,true\n" +       // line 4: unparsable
            ",no id,1,true\n" +          // line 5: required missing
            "5,a\"b,1,true\n" +          // line 6: quote in unquoted field
            "6,\"multi\nline\" junk,1,true\n" + // lines 7-8: text after closing quote
            "7,ok,1e400,true\n" +        // line 9: float overflow
            "8,\"last\",2,false";        // line 10
        var path = _dir.Write("a.csv", content);
        var (rows, letters) = await Read(new CsvSourceOptions { Path = path, Columns = Orders });
        Assert.Equal("1|good|1|True\n8|last|2|False", Batches.Show(rows));
        var l = letters.Letters;
        Assert.Equal(6, l.Count);
        Assert.Equal([3L, 4L, 5L, 6L, 7L, 9L], l.Select(x => (long)x.Pos("line")));
        Assert.Equal(["decode", "convert", "schema", "decode", "decode", "convert"], l.Select(x => x.ErrorClass));
        Assert.Equal(["2,short", "x,bad int,1,true", ",no id,1,true", "5,a\"b,1,true", "6,\"multi\nline\" junk,1,true", "7,ok,1e400,true"], l.Select(x => x.RawText()));
        foreach (var letter in l)
        {
            var offset = (long)letter.Pos("byte_offset");
            Assert.Equal(letter.RawText(), content.Substring((int)offset, letter.Raw.Length));
            Assert.Equal(path, (string)letter.Pos("file"));
            Assert.Equal("csv", letter.Source);
        }
        Assert.Contains("expected 4 fields, found 2", l[0].Error, StringComparison.Ordinal);
        Assert.Contains("cannot parse 'x' as int64", l[1].Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_utf8_in_a_string_column_is_a_dead_letter()
    {
        var bytes = Encoding.UTF8.GetBytes("id,name,amount,ok\n1,").Concat(new byte[] { 0xC3, 0x28 }).Concat(Encoding.UTF8.GetBytes(",1,true\n2,fine,1,true\n")).ToArray();
        var path = _dir.WriteBytes("a.csv", bytes);
        var (rows, letters) = await Read(new CsvSourceOptions { Path = path, Columns = Orders });
        Assert.Single(rows);
        Assert.Equal("decode", Assert.Single(letters.Letters).ErrorClass);
        Assert.Equal(new byte[] { (byte)'1', (byte)',', 0xC3, 0x28, (byte)',', (byte)'1', (byte)',', (byte)'t', (byte)'r', (byte)'u', (byte)'e' }, letters.Letters[0].Raw.ToArray());
    }

    [Fact]
    public async Task Unterminated_quote_at_end_of_file_is_one_dead_letter()
    {
        var path = _dir.Write("a.csv", "id,name,amount,ok\n1,a,1,true\n2,\"never closed,1,true\n3,x,1,true\n");
        var (rows, letters) = await Read(new CsvSourceOptions { Path = path, Columns = Orders });
        Assert.Single(rows);
        var letter = Assert.Single(letters.Letters);
        Assert.Contains("unterminated", letter.Error, StringComparison.Ordinal);
        Assert.Equal("2,\"never closed,1,true\n3,x,1,true\n", letter.RawText());
    }

    [Fact]
    public async Task Timestamps_follow_the_declared_format()
    {
        FileColumn[] cols = [new("iso", ColumnKind.Timestamp), new("ms", ColumnKind.Timestamp, TimeFormat: TimeFormat.EpochMillis), new("d", ColumnKind.Date)];
        var path = _dir.Write("t.csv",
            "iso,ms,d\n" +
            "2024-03-01T12:00:00.123456789+02:00,1700000000123,2024-02-29\n" +
            "1969-12-31T23:59:59.5Z,-1,1970-01-01\n" +
            "2024-03-01T12:00:00,1,2024-01-01\n" +          // no zone
            "2024-02-30T00:00:00Z,1,2024-01-01\n" +         // impossible date
            "2024-01-01T00:00:00Z,1.5,2024-01-01\n" +       // fractional epoch
            "2024-01-01T00:00:00Z,1,2023-02-29\n");         // impossible date
        var (rows, letters) = await Read(new CsvSourceOptions { Path = path, Columns = cols });
        Assert.Equal(2, rows.Count);
        Assert.Equal(Batches.Micros(new DateTime(2024, 3, 1, 10, 0, 0, DateTimeKind.Utc)) + 123_456, rows[0][0]);
        Assert.Equal(1_700_000_000_123_000L, rows[0][1]);
        Assert.Equal(19_782, rows[0][2]);
        Assert.Equal(-500_000L, rows[1][0]);
        Assert.Equal(-1_000L, rows[1][1]);
        Assert.Equal(0, rows[1][2]);
        Assert.Equal(4, letters.Count);
        Assert.All(letters.Letters, l => Assert.Equal("convert", l.ErrorClass));
    }

    [Fact]
    public async Task Glob_files_are_split_across_readers_and_their_union_is_every_row()
    {
        for (var f = 0; f < 5; f++)
        {
            var sb = new StringBuilder("id,name,amount,ok\n");
            for (var i = 0; i < 100; i++) sb.Append($"{f * 1000 + i},n{i},{i}.5,{i % 2 == 0}\n");
            _dir.Write($"in/part-{f}.csv", sb.ToString());
        }
        _dir.Write("in/ignored.txt", "x");
        var o = new CsvSourceOptions { Path = _dir.File("in/*.csv"), Columns = Orders, BatchSize = 33 };
        var source = new CsvFileSource(o);
        Assert.Equal(5, source.MaxParallelism);
        Assert.Equal(Enumerable.Range(0, 5).Select(f => _dir.File($"in/part-{f}.csv")), source.Files);
        var (all, _) = await Read(o);
        Assert.Equal(500, all.Count);
        var union = new List<object?[]>();
        for (var i = 0; i < 2; i++) union.AddRange((await Read(o, i, 2)).Rows);
        Assert.Equal(Batches.Show(all.OrderBy(r => (long)r[0]!)), Batches.Show(union.OrderBy(r => (long)r[0]!)));
    }

    [Fact]
    public async Task Restore_resumes_at_the_exact_record_with_line_numbers_intact()
    {
        var sb = new StringBuilder("\uFEFFid,name,amount,ok\r\n");
        for (var i = 0; i < 50; i++)
        {
            sb.Append(i % 10 == 9 ? $"bad{i},x,1,true\r\n" : $"{i},\"n\n{i}\",{i},true\r\n");
            if (i == 20) sb.Append("\r\n\r\n");
        }
        var path = _dir.Write("a.csv", sb.ToString());
        var o = new CsvSourceOptions { Path = path, Columns = Orders, BatchSize = 7 };
        var (expected, expectedLetters) = await Read(o);
        Assert.Equal(45, expected.Count);

        for (var cut = 1; cut <= 6; cut++)
        {
            var letters = new CollectingDeadLetters();
            var source = new CsvFileSource(o);
            var head = new List<object?[]>();
            byte[] position;
            await using (var reader = source.CreateReader(Contexts.Create(letters)))
            {
                head.AddRange(await Batches.ReadAll(reader, cut));
                position = reader.SnapshotPosition();
            }
            await using (var reader = source.CreateReader(Contexts.Create(letters)))
            {
                reader.RestorePosition(position);
                head.AddRange(await Batches.ReadAll(reader));
            }
            Assert.Equal(Batches.Show(expected), Batches.Show(head));
            Assert.Equal(expectedLetters.Letters.Select(l => ((long)l.Pos("line"), (long)l.Pos("byte_offset"), l.RawText())),
                letters.Letters.Select(l => ((long)l.Pos("line"), (long)l.Pos("byte_offset"), l.RawText())));
        }
    }

    [Fact]
    public async Task A_record_larger_than_the_read_buffer_is_read_whole()
    {
        var big = new string('x', 3 << 20);
        var path = _dir.Write("a.csv", $"id,name,amount,ok\n1,\"{big}\",1,true\n2,small,2,false\n");
        var (rows, letters) = await Read(new CsvSourceOptions { Path = path, Columns = Orders });
        Assert.Empty(letters.Letters);
        Assert.Equal(big, rows[0][1]);
        Assert.Equal("small", rows[1][1]);
    }

    [Fact]
    public async Task Missing_required_column_in_the_header_dead_letters_each_row()
    {
        var path = _dir.Write("a.csv", "name,ok\nx,true\ny,false\n");
        var (rows, letters) = await Read(new CsvSourceOptions { Path = path, Columns = Orders });
        Assert.Empty(rows);
        Assert.Equal(2, letters.Count);
        Assert.All(letters.Letters, l => Assert.Contains("required column id is not in the file header", l.Error, StringComparison.Ordinal));
    }

    [Fact]
    public void Invalid_options_list_every_problem()
    {
        var e = Assert.Throws<ConnectorConfigException>(() => new CsvFileSource(new CsvSourceOptions
        {
            Path = _dir.File("nothing-*.csv"),
            Columns = [new("a", ColumnKind.Int64), new("a", ColumnKind.String), new("t", ColumnKind.Int64, TimeFormat: TimeFormat.EpochMillis)],
            Delimiter = '"',
            BatchSize = 0,
        }));
        Assert.Equal(5, e.Problems.Count);
    }
}
