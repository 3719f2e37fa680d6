using AiEtl.Engine.ClickHouse;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Postgres;
using Apache.Arrow;

namespace AiEtl.Integration.Tests.ClickHouse;

/// <summary>The change sink's table definition per server version and its version numbers (no server needed).</summary>
public sealed class ClickHouseChangeSinkDdlTests
{
    private static (Schema Schema, CdcTableInfo Info) Orders()
    {
        var fields = new List<Field>
        {
            ColumnTypes.Field(CdcColumns.Table, ColumnKind.String, nullable: false),
            ColumnTypes.Field(CdcColumns.Op, ColumnKind.String, nullable: false),
            ColumnTypes.Field(CdcColumns.Lsn, ColumnKind.Int64, nullable: false),
            ColumnTypes.Field(CdcColumns.TxSeq, ColumnKind.Int64, nullable: false),
            ColumnTypes.Field(CdcColumns.CommitTime, ColumnKind.Timestamp),
            ColumnTypes.Field("id", ColumnKind.Int64),
            ColumnTypes.Field("placed", ColumnKind.Timestamp),
        };
        var info = new CdcTableInfo("public.orders", "public", "orders", [("id", "bigint"), ("placed", "timestamp with time zone")], ["id"]);
        return (new Schema(fields, null), info);
    }

    [Fact]
    public void Old_servers_get_an_is_deleted_column_and_microseconds_as_Int64()
    {
        var (schema, info) = Orders();
        var ddl = ClickHouseChangeWriter.CreateTableSql("db", "orders", schema, info, ServerVersion.Parse("18.16.1"));
        Assert.Contains("ENGINE = ReplacingMergeTree(`_version`) ORDER BY (`id`)", ddl, StringComparison.Ordinal);
        Assert.Contains("`is_deleted` UInt8", ddl, StringComparison.Ordinal);
        Assert.Contains("`id` Int64,", ddl, StringComparison.Ordinal);
        Assert.Contains("`placed` Nullable(Int64)", ddl, StringComparison.Ordinal);
    }

    [Fact]
    public void Servers_from_23_2_pass_is_deleted_to_the_engine_and_keep_DateTime64()
    {
        var (schema, info) = Orders();
        var ddl = ClickHouseChangeWriter.CreateTableSql("db", "orders", schema, info, ServerVersion.Parse("24.8.4.13"));
        Assert.Contains("ENGINE = ReplacingMergeTree(`_version`, `is_deleted`) ORDER BY (`id`)", ddl, StringComparison.Ordinal);
        Assert.Contains("`placed` Nullable(DateTime64(6, 'UTC'))", ddl, StringComparison.Ordinal);
        var v22 = ClickHouseChangeWriter.CreateTableSql("db", "orders", schema, info, ServerVersion.Parse("22.8.1"));
        Assert.Contains("ReplacingMergeTree(`_version`) ", v22, StringComparison.Ordinal);
    }

    [Fact]
    public void Versions_order_changes_by_commit_LSN_then_position_in_the_transaction()
    {
        Assert.True(ClickHouseChangeWriter.Version(0x1000, 5) < ClickHouseChangeWriter.Version(0x1000, 6));
        Assert.True(ClickHouseChangeWriter.Version(0x1000, 999_999) < ClickHouseChangeWriter.Version(0x1001, 0));
        // Past 2^20 − 1 changes in one transaction the position saturates (insertion order decides among those).
        Assert.Equal(ClickHouseChangeWriter.Version(0x1000, 1 << 20), ClickHouseChangeWriter.Version(0x1000, (1 << 20) + 5));
        Assert.True(ClickHouseChangeWriter.Version(0x1000, 1 << 20) < ClickHouseChangeWriter.Version(0x1001, 0));
    }
}
