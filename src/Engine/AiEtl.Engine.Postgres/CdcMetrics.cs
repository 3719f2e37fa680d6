using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace AiEtl.Engine.Postgres;

/// <summary>
/// The CDC source's instruments (meter <c>AiEtl.Engine.Postgres</c>): <c>aietl.cdc.slot_lag</c> (bytes between
/// <c>pg_current_wal_lsn()</c> and the slot's <c>confirmed_flush_lsn</c>, sampled with each heartbeat), reconnects,
/// heartbeats and decoded change events, each tagged with the slot.
/// </summary>
public static class CdcMetrics
{
    public const string MeterName = "AiEtl.Engine.Postgres";

    private static readonly Meter Meter = new(MeterName, "1.0");
    private static readonly ConcurrentDictionary<string, long> Lags = new(StringComparer.Ordinal);

    internal static readonly Counter<long> Reconnects = Meter.CreateCounter<long>("aietl.cdc.reconnects", "{reconnect}", "Replication connections re-established");
    internal static readonly Counter<long> Heartbeats = Meter.CreateCounter<long>("aietl.cdc.heartbeats", "{message}", "Heartbeat messages emitted");
    internal static readonly Counter<long> Events = Meter.CreateCounter<long>("aietl.cdc.events", "{event}", "Change events decoded (snapshot rows included)");

    static CdcMetrics()
    {
        Meter.CreateObservableGauge("aietl.cdc.slot_lag", Observe, "By", "WAL bytes the slot holds that the pipeline has not confirmed");
    }

    private static IEnumerable<Measurement<long>> Observe() =>
        Lags.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("slot", kv.Key)));

    /// <summary>The last sampled lag of a slot in bytes, or null when none was sampled.</summary>
    public static long? SlotLag(string slot) => Lags.TryGetValue(slot, out var v) ? v : null;

    internal static void SetLag(string slot, long bytes) => Lags[slot] = bytes;
    internal static void Forget(string slot) => Lags.TryRemove(slot, out _);
}
