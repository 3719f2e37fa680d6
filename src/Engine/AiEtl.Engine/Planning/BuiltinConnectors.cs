using AiEtl.Engine.Connectors.Files;
using AiEtl.Engine.Connectors.Generator;
using AiEtl.Engine.Connectors.Nexmark;
using AiEtl.Engine.Connectors.Sinks;
using AiEtl.Engine.Json;
using AiEtl.Engine.Spec;
using FileTimeFormat = AiEtl.Engine.Connectors.Files.TimeFormat;
using SpecTimeFormat = AiEtl.Engine.Spec.TimeFormat;

namespace AiEtl.Engine.Planning;

/// <summary>The connectors that need no server: generator, nexmark, files (JSON lines, CSV, Parquet), console, null.</summary>
public static class BuiltinConnectors
{
    public static ConnectorRegistry Create() => Register(new ConnectorRegistry());

    public static ConnectorRegistry Register(ConnectorRegistry r) => r
        .AddSource<GeneratorSourceSpec>((g, s, _) => new GeneratorSource(new GeneratorOptions
        {
            Name = s.Name,
            Kind = g.Generator == Spec.GeneratorKind.Clickstream ? Connectors.Generator.GeneratorKind.Clickstream : Connectors.Generator.GeneratorKind.Orders,
            Rows = g.Rows ?? 0,
            Rate = g.Rate ?? 0,
            Seed = g.Seed ?? 42,
            BatchSize = g.BatchSize ?? 8192,
            StartTime = g.StartTime ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
        }))
        .AddSource<NexmarkSourceSpec>((n, s, _) => new NexmarkSource(new NexmarkOptions
        {
            Name = s.Name,
            Stream = (NexmarkStream)(int)n.Stream,
            Events = n.Events ?? 0,
            EventRate = n.EventRate ?? 10_000,
            Seed = n.Seed ?? 0,
            ChunkEvents = n.ChunkEvents ?? 16_384,
            BaseTime = n.BaseTime ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
        }))
        .AddSource<FileSourceSpec>((f, s, _) => f.Format switch
        {
            FileFormat.Jsonl => new JsonLinesFileSource(s.Name, FileColumn.ToSchema(Columns(s)), new JsonLinesSourceOptions
            {
                Path = f.Path,
                BatchSize = f.BatchSize ?? 8192,
                Columns = s.Schema.ToDictionary(c => c.Name, c => new JsonColumnOptions(c.Required, c.Format switch
                {
                    SpecTimeFormat.EpochS => JsonTimeFormat.EpochSeconds,
                    SpecTimeFormat.EpochMs => JsonTimeFormat.EpochMillis,
                    SpecTimeFormat.EpochUs => JsonTimeFormat.EpochMicros,
                    _ => JsonTimeFormat.Iso,
                }), StringComparer.Ordinal),
            }),
            FileFormat.Csv => new CsvFileSource(new CsvSourceOptions
            {
                Name = s.Name,
                Path = f.Path,
                Columns = Columns(s),
                Header = f.Csv?.Header ?? true,
                Delimiter = f.Csv?.Delimiter ?? ',',
                BatchSize = f.BatchSize ?? 8192,
            }),
            _ => ParquetFileSource.OpenAsync(new ParquetSourceOptions
            {
                Name = s.Name,
                Path = f.Path,
                Columns = Columns(s),
                BatchSize = f.BatchSize ?? 8192,
            }, CancellationToken.None).GetAwaiter().GetResult(),
        })
        .AddSink<FileSinkSpec>((f, s, _) => f.Format switch
        {
            FileFormat.Jsonl => new JsonLinesFileSink(new JsonLinesSinkOptions { Name = s.Name, Path = f.Path }),
            FileFormat.Csv => new CsvFileSink(new CsvSinkOptions { Name = s.Name, Path = f.Path }),
            _ => new ParquetFileSink(new ParquetSinkOptions { Name = s.Name, Path = f.Path }),
        })
        .AddSink<ConsoleSinkSpec>((c, s, _) => new ConsoleSink(new ConsoleSinkOptions
        {
            Name = s.Name,
            MaxRows = c.MaxRows ?? 100,
            Format = c.Format == Spec.ConsoleFormat.Jsonl ? Connectors.Sinks.ConsoleFormat.JsonLines : Connectors.Sinks.ConsoleFormat.Table,
        }))
        .AddSink<NullSinkSpec>((_, s, _) => new NullSink(s.Name));

    private static List<FileColumn> Columns(SourceSpec s) => s.Schema.Select(c => new FileColumn(c.Name, c.Type, c.Required, c.Format switch
    {
        SpecTimeFormat.EpochS => FileTimeFormat.EpochSeconds,
        SpecTimeFormat.EpochMs => FileTimeFormat.EpochMillis,
        SpecTimeFormat.EpochUs => FileTimeFormat.EpochMicros,
        _ => FileTimeFormat.Iso8601,
    })).ToList();
}
