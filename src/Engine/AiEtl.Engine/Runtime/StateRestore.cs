using System.Globalization;

namespace AiEtl.Engine.Runtime;

/// <summary>A checkpoint cannot be restored into this plan (an operator's state-defining configuration changed).</summary>
public sealed class CheckpointIncompatibleException(string message) : InvalidOperationException(message);

/// <summary>Where one piece of a stateful plan lives: its uid, state identity and whether its state can be rescaled.</summary>
internal sealed record StatefulSlot(string Uid, OperatorIdentity Identity, bool CanRescale, string Kind);

/// <summary>
/// Matches a restored checkpoint against the operators of the plan about to run: every stateful operator,
/// source and sink is found by uid and its state identity compared; a changed identity (GROUP BY keys, window,
/// aggregates, key type) fails naming the operator; a changed parallelism is allowed for keyed operators (each
/// new instance receives every old snapshot and keeps the keys it owns now); a new sink starts without state and a
/// removed sink's state is dropped. Version-1 checkpoints (no identities) restore only into an identical plan.
/// </summary>
internal sealed class StateRestore
{
    private readonly CheckpointData _checkpoint;
    private readonly IReadOnlyDictionary<string, byte[]> _states;
    private readonly Dictionary<string, int> _oldParallelism = new(StringComparer.Ordinal);

    private StateRestore(CheckpointData checkpoint, IReadOnlyDictionary<string, byte[]> states)
    {
        _checkpoint = checkpoint;
        _states = states;
    }

    public long CheckpointId => _checkpoint.Id;
    public List<string> Notes { get; } = [];

    public static StateRestore Prepare(CheckpointData checkpoint, string what, IReadOnlyDictionary<string, StatefulSlot> plan,
        IReadOnlyDictionary<(string Vertex, string Slot), string> legacyUids, string planFingerprint)
    {
        if (checkpoint.Version < 2)
        {
            if (checkpoint.PlanFingerprint != planFingerprint)
                throw new CheckpointIncompatibleException(
                    $"{what} was taken by a different plan (format version {checkpoint.Version}, fingerprint {checkpoint.PlanFingerprint}, this plan {planFingerprint}); " +
                    "start fresh (aietl run --fresh) or restore the previous pipeline");
            var translated = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var (key, value) in checkpoint.States)
            {
                var parts = key.Split('/');
                if (parts.Length < 3) continue;
                var slot = parts[^1];
                var instance = parts[^2];
                var vertex = string.Join('/', parts[..^2]);
                if (legacyUids.TryGetValue((vertex, slot), out var uid)) translated[$"{uid}/{instance}"] = value;
            }
            var legacy = new StateRestore(checkpoint, translated);
            foreach (var (uid, s) in plan) legacy._oldParallelism[uid] = s.Identity.Parallelism;
            return legacy;
        }

        var restore = new StateRestore(checkpoint, checkpoint.States);
        var problems = new List<string>();
        foreach (var (uid, old) in checkpoint.Operators.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            restore._oldParallelism[uid] = old.Parallelism;
            if (!plan.TryGetValue(uid, out var now))
            {
                if (uid.StartsWith("sink:", StringComparison.Ordinal))
                {
                    restore.Notes.Add($"{uid} is not in this plan any more: its state is dropped");
                    continue;
                }
                problems.Add($"operator {uid} ({old.Identity}, in {old.Vertex}) is not in this plan: its state would be lost");
                continue;
            }
            if (old.Identity != now.Identity.Identity)
            {
                problems.Add($"operator {uid} (in {now.Identity.Vertex}) changed its state-defining configuration: the checkpoint holds state of '{old.Identity}', this plan has '{now.Identity.Identity}'");
                continue;
            }
            if (old.Parallelism != now.Identity.Parallelism)
            {
                if (!now.CanRescale)
                    problems.Add($"{now.Kind} {uid} (in {now.Identity.Vertex}) ran with parallelism {old.Parallelism} and now has {now.Identity.Parallelism}: its state cannot be redistributed (only keyed operators can)");
                else
                    restore.Notes.Add($"{uid}: keyed state redistributed from parallelism {old.Parallelism} to {now.Identity.Parallelism}");
            }
        }
        if (problems.Count > 0)
            throw new CheckpointIncompatibleException(
                $"{what} cannot be restored into this plan: {string.Join("; ", problems)}. " +
                "Start fresh (aietl run --fresh) or run the previous pipeline");
        foreach (var uid in plan.Keys)
            if (!checkpoint.Operators.ContainsKey(uid)) restore.Notes.Add($"{uid} is new: it starts without state");
        return restore;
    }

    /// <summary>The state of <paramref name="uid"/> for one instance: its own snapshot, or (after a parallelism change) every old instance's.</summary>
    public (byte[]? Single, IReadOnlyList<byte[]>? All) For(string uid, int instance, int parallelism)
    {
        if (!_oldParallelism.TryGetValue(uid, out var oldP)) return (null, null);
        if (oldP == parallelism) return (_states.GetValueOrDefault(CheckpointData.Key(uid, instance)), null);
        var all = new List<byte[]>(oldP);
        for (var i = 0; i < oldP; i++)
            if (_states.TryGetValue(CheckpointData.Key(uid, i), out var s)) all.Add(s);
        return (null, all);
    }

    public static string Ordinal(string name, int n) => $"{name}#{n.ToString(CultureInfo.InvariantCulture)}";
}
