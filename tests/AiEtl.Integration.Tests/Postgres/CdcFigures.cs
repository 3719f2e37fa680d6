using System.Diagnostics;
using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Postgres;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace AiEtl.Integration.Tests.Postgres;

/// <summary>
/// Rough figures, not a benchmark: change events/s decoded by the CDC source vs a bare Npgsql reader that only
/// decodes, and snapshot rows/s vs <c>COPY … TO STDOUT</c>. Run explicitly:
/// <c>dotnet test --project tests/AiEtl.Integration.Tests -c Release --no-build -- --filter-method "*Cdc_rough_figures*" --explicit only</c>.
/// </summary>
[Collection("postgres")]
public sealed class CdcFigures(PostgresFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private const int Rows = 1_000_000;

    [Fact(Explicit = true)]
    public async Task Cdc_rough_figures()
    {
        await using var h = await CdcHarness.CreateAsync(fx.Server, "figures", Ct);
        await CdcHarness.ExecAsync(h.Source, "CREATE TABLE bench (id bigint PRIMARY KEY, a int, b text, c timestamptz, d numeric(12,2)); CREATE PUBLICATION bare_pub FOR TABLE bench; CREATE PUBLICATION aietl_figures FOR TABLE bench", Ct);
        await using (var rep = new LogicalReplicationConnection(h.Source))
        {
            await rep.Open(Ct);
            await rep.CreatePgOutputReplicationSlot("bare_slot", cancellationToken: Ct);
            await rep.CreatePgOutputReplicationSlot("bare_slot2", cancellationToken: Ct);
            await rep.CreatePgOutputReplicationSlot(h.Slot, cancellationToken: Ct);
        }
        for (var k = 0; k < 100; k++)
            await CdcHarness.ExecAsync(h.Source, $"INSERT INTO bench SELECT g, g % 1000, 'name-' || g, now(), g / 100.0 FROM generate_series({k * 10000 + 1}, {k * 10000 + 10000}) g", Ct);
        var lines = new List<string>();

        // Bare Npgsql reader (every value of every insert read as text), before and after the source (noisy host).
        var cpu = Cpu();
        var bareRate = await BareAsync(h, "bare_slot");
        var bareCpu = Cpu() - cpu;
        lines.Add($"stream: npgsql_reader (first) {bareRate:N0} events/s, {Rows / bareCpu:N0} events per client CPU-second");

        // The CDC source reading the same WAL through its own slot into Arrow batches.
        var source = await PostgresCdcSource.OpenAsync(new PostgresCdcOptions
        {
            Name = "figures", ConnectionString = h.Source, Include = ["public.bench"], Slot = h.Slot, Snapshot = SnapshotMode.Never, HeartbeatInterval = TimeSpan.Zero,
        }, Ct);
        cpu = Cpu();
        var rate = await ReadRowsAsync(source, Rows);
        var sourceCpu = Cpu() - cpu;
        var bare2 = await BareAsync(h, "bare_slot2");
        lines.Add($"stream: npgsql_reader (second) {bare2:N0} events/s");
        lines.Add($"stream: postgres_cdc source {rate:N0} events/s ({rate / Math.Max(bareRate, bare2):0.00}x the faster npgsql_reader run), {Rows / sourceCpu:N0} events per client CPU-second ({bareCpu / sourceCpu:0.00}x less CPU than npgsql_reader)");

        var sw = Stopwatch.StartNew();
        long copied = 0;
        await using (var conn = new NpgsqlConnection(h.Source))
        {
            await conn.OpenAsync(Ct);
            using var reader = await conn.BeginTextExportAsync("COPY bench TO STDOUT", Ct);
            while (await reader.ReadLineAsync(Ct) != null) copied++;
        }
        var copyRate = copied / sw.Elapsed.TotalSeconds;
        lines.Add($"snapshot: copy_out {copied:N0} rows = {copyRate:N0}/s");
        await CdcHarness.ExecAsync(h.Source, $"SELECT pg_drop_replication_slot('{h.Slot}')", Ct);
        var snap = await PostgresCdcSource.OpenAsync(new PostgresCdcOptions
        {
            Name = "figures", ConnectionString = h.Source, Include = ["public.bench"], Slot = h.Slot, SnapshotChunkRows = 100_000, HeartbeatInterval = TimeSpan.Zero,
        }, Ct);
        var snapRate = await ReadRowsAsync(snap, Rows);
        lines.Add($"snapshot: postgres_cdc source (2 sessions, 100k-row key ranges) {Rows:N0} rows = {snapRate:N0}/s ({snapRate / copyRate:0.00}x copy_out)");
        await CdcHarness.ExecAsync(h.Source, "SELECT pg_drop_replication_slot('bare_slot'); SELECT pg_drop_replication_slot('bare_slot2')", Ct);
        foreach (var l in lines) TestContext.Current.SendDiagnosticMessage(l);
        await File.WriteAllLinesAsync(Path.Combine(Path.GetTempPath(), "aietl-cdc-figures.txt"), lines, Ct);
    }

    private static double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    private static async Task<double> BareAsync(CdcHarness h, string slot)
    {
        var sw = Stopwatch.StartNew();
        long bare = 0;
        await using var rep = new LogicalReplicationConnection(h.Source);
        await rep.Open(Ct);
        await foreach (var m in rep.StartReplication(new PgOutputReplicationSlot(slot), new PgOutputReplicationOptions("bare_pub", PgOutputProtocolVersion.V1), Ct))
        {
            if (m is InsertMessage i)
            {
                await foreach (var v in i.NewRow) _ = await v.Get<string>(Ct);
                if (++bare == Rows) break;
            }
        }
        return bare / sw.Elapsed.TotalSeconds;
    }

    private static async Task<double> ReadRowsAsync(PostgresCdcSource source, long rows)
    {
        using var metrics = new EngineMetrics("figures");
        var reader = source.CreateReader(new ConnectorContext
        {
            Task = new TaskInfo { Pipeline = "figures", Vertex = "source", Index = 0, Parallelism = 1 },
            DeadLetters = new InMemoryDeadLetterOutput(),
            Metrics = metrics,
        });
        await using (reader)
        {
            var sw = Stopwatch.StartNew();
            long n = 0;
            while (n < rows)
            {
                using var b = await reader.ReadNextBatchAsync(Ct);
                if (b == null) break;
                n += b.Length;
            }
            return n / sw.Elapsed.TotalSeconds;
        }
    }
}
