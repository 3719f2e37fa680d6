using System.Diagnostics;
using System.Globalization;
using System.Text;
using AiEtl.Engine;
using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.Connectors.Generator;
using AiEtl.TestSupport;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO;
using static AiEtl.Integration.Tests.ClickHouse.ChTest;

namespace AiEtl.Integration.Tests.ClickHouse;

/// <summary>
/// Rough insert figures for 1M generator rows (8 columns): the sink's encoder alone, the sink end to end (per
/// compression), one HTTP POST of the same pre-encoded bytes, clickhouse-client fed those bytes, and
/// ClickHouse.Driver's binary insert. Explicit: run with <c>-- --filter-method *Insert_figures* --explicit only</c>;
/// the report goes to the test output and to <c>$TMPDIR/aietl-clickhouse-insert-figures.txt</c>.
/// </summary>
[Collection("clickhouse")]
public sealed class ClickHouseInsertFigures(ClickHouseFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Explicit = true)]
    public async Task Insert_figures_for_1M_rows()
    {
        const int Rows = 1_000_000;
        var source = new GeneratorSource(new GeneratorOptions { Rows = Rows, BatchSize = 8192, Seed = 1 });
        var reader = source.CreateReader(Context());
        var batches = new List<Batch>();
        while (await reader.ReadNextBatchAsync(Ct) is { } b) batches.Add(b);
        await reader.DisposeAsync();
        var report = new StringBuilder();
        void Line(string what, double seconds, string extra = "") =>
            report.AppendLine(CultureInfo.InvariantCulture, $"{what,-44} {Rows / seconds / 1e6,6:0.00} M rows/s  ({seconds * 1000,7:0} ms){extra}");

        var t0 = Table("fig");
        await fx.Server.QueryAsync($"CREATE TABLE {t0} (order_id Int64, customer_id Int64, product_id Int64, qty Int32, amount Float64, status String, country Nullable(String), ts Int64) ENGINE = MergeTree ORDER BY order_id", Ct);

        // The encoder alone: batches into the insert buffer, nothing sent (best of 5 after a warm-up).
        byte[]? encoded = null;
        var bestEncode = double.MaxValue;
        for (var run = 0; run < 6; run++)
        {
            var opts = Options(fx.Server, t0) with { BatchRows = Rows + 1, BatchBytes = 256 << 20, FlushInterval = TimeSpan.FromMinutes(5) };
            await using var w = Writer(opts, source.Schema);
            await w.OpenAsync(null, Ct);
            var sw = Stopwatch.StartNew();
            foreach (var b in batches) await w.WriteAsync(b, Ct);
            if (run > 0) bestEncode = Math.Min(bestEncode, sw.Elapsed.TotalSeconds);
            encoded ??= EncodedBytes(w);
        }
        Line("encoder only (Arrow -> Native, no I/O)", bestEncode, $"  {encoded!.Length / (double)Rows:0.0} B/row");

        // The sink end to end, per compression (best of 3 runs each).
        foreach (var compression in new[] { ClickHouseCompression.None, ClickHouseCompression.Gzip, ClickHouseCompression.Lz4 })
        {
            var best = double.MaxValue;
            for (var run = 0; run < 3; run++)
            {
                var opts = Options(fx.Server, t0) with { BatchRows = Rows + 1, BatchBytes = 256 << 20, Compression = compression, FlushInterval = TimeSpan.FromMinutes(5) };
                await using var w = Writer(opts, source.Schema);
                await w.OpenAsync(null, Ct);
                var sw = Stopwatch.StartNew();
                foreach (var b in batches) await w.WriteAsync(b, Ct);
                await w.PreCommitAsync(1, Ct);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            Line($"sink: encode + HTTP insert ({compression.ToString().ToLowerInvariant()})", best);
        }
        Assert.Equal(3L * 3 * Rows, await Long(fx.Server, $"SELECT count() FROM {t0}"));

        // One POST of the pre-encoded bytes (the insert limit over HTTP).
        using (var http = new HttpClient())
        {
            var best = double.MaxValue;
            for (var run = 0; run < 3; run++)
            {
                var sw = Stopwatch.StartNew();
                using var content = new ByteArrayContent(encoded!);
                using var resp = await http.PostAsync($"{fx.Server.HttpUrl}/?query={Uri.EscapeDataString($"INSERT INTO {t0} (order_id, customer_id, product_id, qty, amount, status, country, ts) FORMAT Native")}", content, Ct);
                Assert.True(resp.IsSuccessStatusCode, await resp.Content.ReadAsStringAsync(Ct));
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            Line("HTTP POST of the pre-encoded Native bytes", best);
        }

        // clickhouse-client reading the same bytes from a file (includes its process start).
        var file = Path.Combine(Path.GetTempPath(), $"aietl-fig-{Environment.ProcessId}.native");
        await File.WriteAllBytesAsync(file, encoded!, Ct);
        try
        {
            var client = ServerProcess.RequireBinary("clickhouse-client", "clickhouse-client");
            var best = double.MaxValue;
            for (var run = 0; run < 3; run++)
            {
                var sw = Stopwatch.StartNew();
                var psi = new ProcessStartInfo(client, ["--host", "127.0.0.1", "--port", fx.Server.TcpPort.ToString(CultureInfo.InvariantCulture), "--query",
                    $"INSERT INTO {t0} (order_id, customer_id, product_id, qty, amount, status, country, ts) FORMAT Native"])
                { RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
                using var p = Process.Start(psi)!;
                await using (var stdin = p.StandardInput.BaseStream)
                await using (var input = File.OpenRead(file))
                    await input.CopyToAsync(stdin, Ct);
                var err = await p.StandardError.ReadToEndAsync(Ct);
                await p.WaitForExitAsync(Ct);
                Assert.True(p.ExitCode == 0, err);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            Line("clickhouse-client, same bytes on stdin", best);
        }
        finally
        {
            if (Environment.GetEnvironmentVariable("AIETL_KEEP_FIG") == null) File.Delete(file);
        }

        // ClickHouse.Driver's own insert path (row objects).
        var objects = new List<object?[]>(Rows);
        foreach (var b in batches)
        {
            var c0 = (Apache.Arrow.Int64Array)b.Column(0); var c1 = (Apache.Arrow.Int64Array)b.Column(1); var c2 = (Apache.Arrow.Int64Array)b.Column(2);
            var c3 = (Apache.Arrow.Int32Array)b.Column(3); var c4 = (Apache.Arrow.DoubleArray)b.Column(4); var c5 = (Apache.Arrow.StringArray)b.Column(5);
            var c6 = (Apache.Arrow.StringArray)b.Column(6); var c7 = (Apache.Arrow.TimestampArray)b.Column(7);
            for (var i = 0; i < b.Length; i++)
                objects.Add([c0.GetValue(i), c1.GetValue(i), c2.GetValue(i), c3.GetValue(i), c4.GetValue(i), c5.GetString(i), c6.GetString(i), c7.GetValue(i)]);
        }
        using (var driver = new ClickHouseClient(new ClickHouseClientSettings
        {
            Host = "127.0.0.1", Port = (ushort)new Uri(fx.Server.HttpUrl).Port, Protocol = "http", UseCompression = false,
            JsonReadMode = JsonReadMode.None, JsonWriteMode = JsonWriteMode.None,
        }))
        {
            var sw = Stopwatch.StartNew();
            try
            {
                await driver.InsertBinaryAsync(t0, ["order_id", "customer_id", "product_id", "qty", "amount", "status", "country", "ts"], objects!, null, Ct);
                Line("ClickHouse.Driver InsertBinaryAsync (objects)", sw.Elapsed.TotalSeconds);
            }
            catch (ClickHouseServerException e)
            {
                report.AppendLine(CultureInfo.InvariantCulture, $"ClickHouse.Driver InsertBinaryAsync: fails on {fx.Server.Version}: {e.Message.Split(',')[0..2].Aggregate((a, x) => a + "," + x)}");
            }
        }
        foreach (var b in batches) b.Dispose();
        TestContext.Current.SendDiagnosticMessage(report.ToString());
        Console.WriteLine(report.ToString());
        await File.WriteAllTextAsync(Path.Combine(Path.GetTempPath(), "aietl-clickhouse-insert-figures.txt"), report.ToString(), Ct);
    }

    private static byte[] EncodedBytes(ClickHouseSinkWriter w) => w.PendingBytesForTests().ToArray();
}
