using AiEtl.Engine.Spec;
using static AiEtl.Engine.Tests.Spec.SpecTestSupport;

namespace AiEtl.Engine.Tests.Spec;

public sealed class PostgresSpecTests
{
    [Fact]
    public void Postgres_cdc_source_and_postgres_sink_load_every_value()
    {
        var spec = LoadValid("""
            name: cdc
            source:
              postgres_cdc:
                connection: "Host=localhost;Database=app"
                include: [public.orders, "sales.*"]
                exclude: public.tmp_?
                slot: app_slot
                publication: app_pub
                snapshot: never
                snapshot_parallelism: 4
                snapshot_chunk_rows: 100000
                on_schema_change: evolve
                heartbeat_interval: 30s
                batch_size: 4096
            sink:
              postgres: { connection: "Host=replica", schema: mirror, table_prefix: src_, create_tables: false, truncate_on_snapshot: false }
            """);
        var c = Assert.IsType<PostgresCdcSourceSpec>(spec.Sources[0].Connector);
        Assert.Equal("Host=localhost;Database=app", c.Connection);
        Assert.Equal(["public.orders", "sales.*"], c.Include);
        Assert.Equal(["public.tmp_?"], c.Exclude);
        Assert.Equal(("app_slot", "app_pub"), (c.Slot, c.Publication));
        Assert.Equal(SnapshotMode.Never, c.Snapshot);
        Assert.Equal((4, 100000L), (c.SnapshotParallelism, c.SnapshotChunkRows));
        Assert.Equal(SchemaChangeMode.Evolve, c.OnSchemaChange);
        Assert.Equal(TimeSpan.FromSeconds(30), c.HeartbeatInterval);
        Assert.Equal(4096, c.BatchSize);
        Assert.Empty(spec.Sources[0].Schema);
        var s = Assert.IsType<PostgresSinkSpec>(spec.Sinks[0].Connector);
        Assert.Equal(new PostgresSinkSpec("Host=replica", "mirror", "src_", false, false), s);
    }

    [Fact]
    public void Unset_postgres_options_stay_null()
    {
        var spec = LoadValid("""
            name: cdc
            source: { postgres_cdc: { connection: "Host=h" } }
            sink: { postgres: { connection: "Host=t" } }
            """);
        var c = Assert.IsType<PostgresCdcSourceSpec>(spec.Sources[0].Connector);
        Assert.Empty(c.Include);
        Assert.Null(c.Slot);
        Assert.Null(c.OnSchemaChange);
        Assert.Null(c.HeartbeatInterval);
        Assert.Equal(new PostgresSinkSpec("Host=t", null, null, null, null), spec.Sinks[0].Connector);
    }

    [Fact]
    public void Postgres_cdc_may_declare_the_columns_it_expects()
    {
        var spec = LoadValid("""
            name: cdc
            source:
              postgres_cdc: { connection: "Host=h", include: public.t }
              schema: { id: int64, name: string }
            sink: { null: }
            """);
        Assert.Equal(["id", "name"], spec.Sources[0].Schema.Select(c => c.Name));
    }

    [Fact]
    public void Bad_slot_name_is_reported_at_its_position()
    {
        SingleError("""
            name: cdc
            source:
              postgres_cdc: { connection: "Host=h", slot: "bad-slot" }
            sink: { null: }
            """, "source.postgres_cdc.slot", 3, 47, "not a plain SQL name");
    }

    [Fact]
    public void Missing_connection_and_unknown_mode_are_both_reported()
    {
        var errors = Errors("""
            name: cdc
            source:
              postgres_cdc: { on_schema_change: ignore }
            sink: { null: }
            """);
        Assert.Contains(errors, e => e.Path == "source.postgres_cdc.connection" || e.Message.Contains("connection", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "source.postgres_cdc.on_schema_change" && e.Message.Contains("evolve", StringComparison.Ordinal));
    }
}
