using AiEtl.Engine.Columns;
using AiEtl.Engine.Connectors;
using AiEtl.Engine.Planning;
using AiEtl.Engine.Spec;
using Npgsql;

namespace AiEtl.Engine.Postgres;

/// <summary>Registers the PostgreSQL connectors: the <c>postgres_cdc</c> source and the <c>postgres</c> change sink.</summary>
public static class PostgresConnectors
{
    /// <summary>Adds the PostgreSQL connectors to a registry (next to <see cref="BuiltinConnectors.Create"/>).</summary>
    public static ConnectorRegistry AddPostgres(this ConnectorRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        return registry
            .AddSource<PostgresCdcSourceSpec>((c, s, p) => CreateSource(c, s, p))
            .AddSink<PostgresSinkSpec>((c, s, p) => new PostgresChangeSink(new PostgresSinkOptions
            {
                Name = s.Name,
                ConnectionString = c.Connection,
                Schema = c.Schema ?? "public",
                TablePrefix = c.TablePrefix ?? "",
                CreateTables = c.CreateTables ?? true,
                TruncateOnSnapshot = c.TruncateOnSnapshot ?? true,
                Pipeline = p.Name,
            }));
    }

    private static PostgresCdcSource CreateSource(PostgresCdcSourceSpec c, SourceSpec s, PipelineSpec p)
    {
        var path = $"sources.{s.Name}.{PostgresCdcSourceSpec.KindName}";
        if (c.OnSchemaChange == SchemaChangeMode.Evolve && p.Transform != null)
            throw new PlanException([new PlanError(path + ".on_schema_change",
                "evolve cannot be combined with a transform: transform steps bind columns when the pipeline is planned; remove the transform or use on_schema_change: fail")]);
        PostgresCdcSource source;
        try
        {
            source = PostgresCdcSource.OpenAsync(new PostgresCdcOptions
            {
                Name = s.Name,
                ConnectionString = c.Connection,
                Include = c.Include,
                Exclude = c.Exclude,
                Slot = c.Slot ?? PostgresCdcOptions.DefaultSlot(p.Name),
                Publication = c.Publication,
                Snapshot = c.Snapshot ?? SnapshotMode.Initial,
                SnapshotParallelism = c.SnapshotParallelism ?? 2,
                SnapshotChunkRows = c.SnapshotChunkRows ?? 250_000,
                OnSchemaChange = c.OnSchemaChange ?? SchemaChangeMode.Fail,
                ResnapshotOnSlotLoss = c.ResnapshotOnSlotLoss,
                HeartbeatInterval = c.HeartbeatInterval ?? TimeSpan.FromSeconds(10),
                BatchSize = c.BatchSize ?? 8192,
            }, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (ConnectorConfigException e)
        {
            throw new PlanException(e.Problems.Select(m => new PlanError(path, m)).ToList());
        }
        catch (NpgsqlException e)
        {
            throw new PlanException([new PlanError(path, $"cannot read the source database's catalog: {e.Message}")]);
        }
        var errors = new List<PlanError>();
        foreach (var col in s.Schema)
        {
            var i = source.Schema.GetFieldIndex(col.Name);
            if (i < 0) errors.Add(new PlanError($"sources.{s.Name}.schema.{col.Name}", $"no captured table has a column {col.Name}"));
            else if (ColumnTypes.FromArrow(source.Schema.FieldsList[i].DataType) is var k && k != col.Type)
                errors.Add(new PlanError($"sources.{s.Name}.schema.{col.Name}", $"the database gives {col.Name} the type {ColumnTypes.Name(k)}, not {ColumnTypes.Name(col.Type)}"));
        }
        if (errors.Count > 0) throw new PlanException(errors);
        return source;
    }
}
