using System.Text.Json;
using System.Text.RegularExpressions;
using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Runtime;

namespace AiEtl.Engine.Tests.DeadLetters;

public sealed partial class DeadLetterOutputTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("aietl-dl-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static DeadLetter Letter(int i, byte[] raw) => new()
    {
        Source = "orders",
        Position = [new("file", "in.jsonl"), new("line", (long)i), new("byte_offset", i * 10L)],
        ErrorClass = "decode",
        Error = $"bad \"thing\" #{i} é",
        Raw = raw,
    };

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")]
    private static partial Regex IsoUtc();

    [Fact]
    public async Task Json_lines_output_writes_one_object_per_letter_from_many_threads()
    {
        var path = Path.Combine(_dir.FullName, "sub", "dead.jsonl");
        var raws = new byte[2000][];
        var rnd = new Random(3);
        for (var i = 0; i < raws.Length; i++)
        {
            raws[i] = new byte[rnd.Next(0, 300)];
            rnd.NextBytes(raws[i]); // arbitrary bytes: invalid UTF-8, NUL, newlines
        }
        await using (var output = new JsonLinesDeadLetterOutput(path, "pipe-1"))
        {
            await Parallel.ForAsync(0, 4, async (t, ct) =>
            {
                for (var i = t; i < raws.Length; i += 4)
                {
                    output.Write(Letter(i, raws[i]));
                    if (i % 97 == 0) await output.FlushAsync(ct);
                }
            });
            await output.FlushAsync(CancellationToken.None);
            Assert.Equal(2000, output.Count);
            // Durable after FlushAsync: readable before dispose.
            Assert.Equal(2000, File.ReadAllLines(path).Length);
        }

        var seen = new HashSet<long>();
        foreach (var line in File.ReadAllLines(path))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            Assert.Equal(["pipeline", "source", "position", "error_class", "error", "raw_base64", "time"], r.EnumerateObject().Select(p => p.Name));
            Assert.Equal("pipe-1", r.GetProperty("pipeline").GetString());
            Assert.Equal("orders", r.GetProperty("source").GetString());
            Assert.Equal("decode", r.GetProperty("error_class").GetString());
            var i = r.GetProperty("position").GetProperty("line").GetInt64();
            Assert.Equal("in.jsonl", r.GetProperty("position").GetProperty("file").GetString());
            Assert.Equal(i * 10, r.GetProperty("position").GetProperty("byte_offset").GetInt64());
            Assert.Equal($"bad \"thing\" #{i} é", r.GetProperty("error").GetString());
            Assert.Equal(raws[i], Convert.FromBase64String(r.GetProperty("raw_base64").GetString()!));
            Assert.Matches(IsoUtc(), r.GetProperty("time").GetString()!);
            Assert.True(seen.Add(i));
        }
        Assert.Equal(2000, seen.Count);
    }

    [Fact]
    public async Task Json_lines_output_appends_and_uses_the_given_clock()
    {
        var path = Path.Combine(_dir.FullName, "dead.jsonl");
        var clock = new FixedClock(new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.FromHours(2)).AddTicks(1234567));
        byte[] invalid = [0xFF, 0xFE, 0x00, 0xC0, 0x80, 0xED, 0xA0, 0x80, (byte)'\n'];
        await using (var a = new JsonLinesDeadLetterOutput(path, "p", clock)) a.Write(Letter(1, invalid));
        await using (var b = new JsonLinesDeadLetterOutput(path, "p", clock)) b.Write(Letter(2, []));
        var lines = File.ReadAllLines(path);
        Assert.Equal(2, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        Assert.Equal(invalid, first.RootElement.GetProperty("raw_base64").GetBytesFromBase64());
        Assert.Equal("2024-05-06T05:08:09.123456Z", first.RootElement.GetProperty("time").GetString());
        using var second = JsonDocument.Parse(lines[1]);
        Assert.Equal("", second.RootElement.GetProperty("raw_base64").GetString());
    }

    [Fact]
    public async Task Json_lines_output_refuses_writes_after_dispose()
    {
        var output = new JsonLinesDeadLetterOutput(Path.Combine(_dir.FullName, "d.jsonl"), "p");
        await output.DisposeAsync();
        await output.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => output.Write(Letter(1, [1])));
    }

    [Fact]
    public async Task In_memory_output_keeps_letters_in_order()
    {
        var output = new InMemoryDeadLetterOutput();
        output.Write(Letter(1, [1, 2]));
        output.Write(Letter(2, [0xFF]));
        await output.FlushAsync(CancellationToken.None);
        Assert.Equal(2, output.Count);
        Assert.Equal(1, output.Flushes);
        Assert.Equal([1L, 2L], output.Letters.Select(l => (long)l.Position[1].Value));
        Assert.Equal([0xFF], output.Letters[1].Raw.ToArray());
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
