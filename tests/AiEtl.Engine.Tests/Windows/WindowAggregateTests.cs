using System.Text.Json;
using AiEtl.Engine.Columns;
using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Tests.Support;
using Apache.Arrow;
using static AiEtl.Engine.Tests.Windows.WindowData;

namespace AiEtl.Engine.Tests.Windows;

public sealed class WindowAggregateTests
{
    private const long Second = 1_000_000;

    private static readonly int[] KeyAndString = [K, S];

    private static WindowSpec Tumble(long size, long lateness = 0) => new(WindowKind.Tumble, Ts, size, 0, 0, lateness);
    private static WindowSpec Hop(long slide, long size, long lateness = 0) => new(WindowKind.Hop, Ts, size, slide, 0, lateness);
    private static WindowSpec Session(long gap, long lateness = 0) => new(WindowKind.Session, Ts, 0, 0, gap, lateness);
    private static readonly WindowSpec Plain = new(WindowKind.None, -1, 0, 0, 0, 0);

    /// <summary>Runs the operator and the reference on the same batches and compares every step, late row and NULL-time row.</summary>
    private static async Task<(RunResult Engine, RunResult Expected)> CompareAsync(List<Batch> batches, IReadOnlyList<int> keys, WindowSpec spec,
        long outOfOrderness, IReadOnlyList<AggregateSpec>? aggregates = null, int? restartAfter = null)
    {
        var aggs = aggregates ?? AllAggregates;
        var wms = Driver.Watermarks(batches, outOfOrderness);
        var expected = Reference.Run(batches, wms, keys, spec, aggs);
        var engine = await Driver.RunAsync(Driver.Factory(keys, spec, aggs), batches, wms, restartAfter);
        Assert.Equal(expected.Steps.Count, engine.Steps.Count);
        for (var i = 0; i < expected.Steps.Count; i++)
            Assert.True(expected.StepSorted(i).SequenceEqual(engine.StepSorted(i)), StepDiff(i, expected.StepSorted(i), engine.StepSorted(i)));
        Assert.Equal(expected.Late, engine.Late);
        Assert.Equal(expected.NullTime, engine.NullTime);
        Assert.Equal(expected.Late.Count, engine.LateMetric);
        return (engine, expected);
    }

    private static string StepDiff(int step, List<string> expected, List<string> actual) =>
        $"step {step}: {expected.Count} rows expected, {actual.Count} emitted\n" +
        $"missing: {string.Join("\n  ", expected.Except(actual).Take(5))}\n" +
        $"unexpected: {string.Join("\n  ", actual.Except(expected).Take(5))}";

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Tumbling_windows_match_the_reference_at_every_watermark(int seed)
    {
        var batches = Generate(seed, new Shape());
        var (engine, expected) = await CompareAsync(batches, KeyAndString, Tumble(10 * Second), 5 * Second);
        Assert.NotEmpty(expected.Late);
        Assert.NotEmpty(expected.NullTime);
        Assert.True(expected.Steps.Take(expected.Steps.Count - 1).Count(s => s.Count > 0) > 10, "windows should close during the stream, not only at the end");
        Assert.Contains(engine.Steps.SelectMany(x => x), r => r.StartsWith("null|", StringComparison.Ordinal));
        DisposeAll(batches);
    }

    [Fact]
    public async Task Allowed_lateness_keeps_windows_open_for_rows_behind_the_watermark()
    {
        var batches = Generate(4, new Shape());
        var (strict, _) = await CompareAsync(batches, KeyAndString, Tumble(10 * Second), 5 * Second);
        var (lenient, _) = await CompareAsync(batches, KeyAndString, Tumble(10 * Second, lateness: 25 * Second), 5 * Second);
        Assert.NotEmpty(strict.Late);
        Assert.True(lenient.Late.Count < strict.Late.Count / 4, $"{lenient.Late.Count} late rows with lateness vs {strict.Late.Count} without");
        DisposeAll(batches);
    }

    [Theory]
    [InlineData(5, 4, 10, 0)]
    [InlineData(6, 5, 10, 0)]
    [InlineData(7, 3, 10, 8)]
    public async Task Hopping_windows_match_the_reference(int seed, long slide, long size, long lateness)
    {
        var batches = Generate(seed, new Shape());
        var (_, expected) = await CompareAsync(batches, [K], Hop(slide * Second, size * Second, lateness * Second), 5 * Second);
        Assert.NotEmpty(expected.Late);
        DisposeAll(batches);
    }

    [Theory]
    [InlineData(8, 0)]
    [InlineData(9, 0)]
    [InlineData(10, 5)]
    public async Task Session_windows_match_the_reference(int seed, long lateness)
    {
        var shape = new Shape { Keys = 20, StepMicros = 300_000, JitterMicros = 3_000_000, FarBackMicros = 12_000_000 };
        var batches = Generate(seed, shape);
        var (_, expected) = await CompareAsync(batches, KeyAndString, Session(4 * Second, lateness * Second), 2 * Second);
        var all = expected.Steps.SelectMany(s => s).ToList();
        Assert.True(all.Count > 200, $"only {all.Count} sessions");
        DisposeAll(batches);
    }

    [Fact]
    public async Task Plain_group_by_emits_one_row_per_key_at_the_end_of_the_input()
    {
        var batches = Generate(11, new Shape());
        var (engine, _) = await CompareAsync(batches, KeyAndString, Plain, 0);
        Assert.All(engine.Steps.Take(engine.Steps.Count - 1), s => Assert.Empty(s));
        Assert.Empty(engine.Late);
        Assert.Empty(engine.NullTime);
        Assert.Contains(engine.Steps[^1], r => r.StartsWith("null|null|", StringComparison.Ordinal));
        DisposeAll(batches);
    }

    [Fact]
    public async Task A_global_aggregate_over_no_rows_gives_one_row()
    {
        var aggs = new AggregateSpec[] { new(AggregateFunction.CountStar, -1, "n"), new(AggregateFunction.Sum, V, "s"), new(AggregateFunction.CountDistinct, S, "d"), new(AggregateFunction.Max, S, "m") };
        var engine = await Driver.RunAsync(Driver.Factory([], Plain, aggs), [], []);
        Assert.Equal(["0|null|0|null"], engine.Steps[^1]);
        var keyed = await Driver.RunAsync(Driver.Factory([K], Plain, aggs), [], []);
        Assert.Empty(keyed.Steps[^1]);
    }

    [Fact]
    public async Task Results_appear_only_once_the_watermark_passes_window_end_plus_lateness()
    {
        var batches = new List<Batch> { Rows((1, 1 * Second), (1, 2 * Second)), Rows((1, 12 * Second)), Rows((2, 13 * Second)), Rows((2, 14 * Second)) };
        var aggs = new AggregateSpec[] { new(AggregateFunction.CountStar, -1, "n") };
        var wms = new[] { 10 * Second, 15 * Second - 1, 15 * Second, 40 * Second };
        var r = await Driver.RunAsync(Driver.Factory([K], Tumble(10 * Second, lateness: 5 * Second), aggs), batches, wms);
        Assert.Empty(r.Steps[0]);
        Assert.Empty(r.Steps[1]);
        Assert.Equal([$"1|0|{10 * Second}|2"], r.Steps[2]);
        Assert.Equal([$"1|{10 * Second}|{20 * Second}|1", $"2|{10 * Second}|{20 * Second}|2"], r.StepSorted(3));
        Assert.Empty(r.Steps[4]);
        Assert.Empty(r.Late);
        DisposeAll(batches);
    }

    [Fact]
    public async Task An_out_of_order_event_that_bridges_two_sessions_merges_them()
    {
        var batches = new List<Batch> { Rows((1, 0), (1, 10 * Second), (2, 3 * Second)), Rows((1, 5 * Second)), Rows((1, 30 * Second)) };
        var aggs = new AggregateSpec[] { new(AggregateFunction.CountStar, -1, "n"), new(AggregateFunction.Min, Ts, "first"), new(AggregateFunction.Max, Ts, "last") };
        var wms = new[] { 4 * Second, 9 * Second, 16 * Second };
        var r = await Driver.RunAsync(Driver.Factory([K], Session(6 * Second), aggs), batches, wms);
        // After batch 0 the sessions of key 1 are [0, 6) and [10, 16); key 2's [3, 9) closes at watermark 9.
        Assert.Empty(r.Steps[0]);
        Assert.Equal([$"2|{3 * Second}|{9 * Second}|1|{3 * Second}|{3 * Second}"], r.Steps[1]);
        // The event at 5 s bridged them: one session [0, 16) of three events, closed at watermark 16.
        Assert.Equal([$"1|0|{16 * Second}|3|0|{10 * Second}"], r.Steps[2]);
        Assert.Equal([$"1|{30 * Second}|{36 * Second}|1|{30 * Second}|{30 * Second}"], r.Steps[3]);
        DisposeAll(batches);
    }

    [Fact]
    public async Task An_event_exactly_one_gap_after_the_last_starts_a_new_session()
    {
        var batches = new List<Batch> { Rows((1, 0), (1, 6 * Second), (1, 12 * Second - 1)) };
        var aggs = new AggregateSpec[] { new(AggregateFunction.CountStar, -1, "n") };
        var r = await Driver.RunAsync(Driver.Factory([K], Session(6 * Second), aggs), batches, [long.MinValue]);
        Assert.Equal([$"1|0|{6 * Second}|1", $"1|{6 * Second}|{18 * Second - 1}|2"], r.StepSorted(1));
        DisposeAll(batches);
    }

    [Fact]
    public async Task Late_rows_are_counted_and_dead_lettered_with_the_row_as_json()
    {
        var batches = new List<Batch> { Rows((1, 1 * Second), (2, 2 * Second)), Rows((1, 3 * Second), (1, 25 * Second)) };
        var aggs = new AggregateSpec[] { new(AggregateFunction.CountStar, -1, "n") };
        var r = await Driver.RunAsync(Driver.Factory([K], Tumble(10 * Second), aggs), batches, [20 * Second, 20 * Second]);
        Assert.Equal([$"1|0|{10 * Second}|1", $"2|0|{10 * Second}|1"], r.StepSorted(0));
        Assert.Equal([(1, 0)], r.Late);
        Assert.Equal(1, r.LateMetric);
        var letter = Assert.Single(r.Letters);
        Assert.Equal("late", letter.ErrorClass);
        Assert.Equal("agg/window_aggregate", letter.Source);
        Assert.Equal("window_aggregate", letter.Pos("operator"));
        Assert.Contains("already closed", letter.Error, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(letter.Raw);
        Assert.Equal(1, json.RootElement.GetProperty("k").GetInt64());
        Assert.Equal(Values.FormatTimestamp(3 * Second), json.RootElement.GetProperty("ts").GetString());
        // The late row is not in any result.
        Assert.Equal([$"1|{20 * Second}|{30 * Second}|1"], r.Steps[^1]);
        DisposeAll(batches);
    }

    [Fact]
    public async Task A_window_is_closed_exactly_when_the_watermark_reaches_its_end_plus_lateness()
    {
        var aggs = new AggregateSpec[] { new(AggregateFunction.CountStar, -1, "n") };
        // TUMBLE: [0, 10 s) closes at watermark 10 s; a row at 10 s - 1 µs is then late, one at 10 s is not.
        var batches = new List<Batch> { Rows((1, 1 * Second)), Rows((1, 10 * Second - 1), (1, 10 * Second)) };
        var r = await Driver.RunAsync(Driver.Factory([K], Tumble(10 * Second), aggs), batches, [10 * Second, 10 * Second]);
        Assert.Equal([$"1|0|{10 * Second}|1"], r.Steps[0]);
        Assert.Equal([(1, 0)], r.Late);
        Assert.Equal([$"1|{10 * Second}|{20 * Second}|1"], r.Steps[^1]);
        // With 2 s of allowed lateness the same row still counts until the watermark reaches 12 s.
        r = await Driver.RunAsync(Driver.Factory([K], Tumble(10 * Second, 2 * Second), aggs), batches, [12 * Second - 1, 12 * Second]);
        Assert.Empty(r.Late);
        Assert.Equal([$"1|0|{10 * Second}|2"], r.Steps[1]);
        DisposeAll(batches);

        // HOP(5 s, 10 s): 12 s is in [5 s, 15 s) and [10 s, 20 s); at watermark 15 s the first is closed.
        batches = [Rows((1, 6 * Second)), Rows((1, 12 * Second))];
        r = await Driver.RunAsync(Driver.Factory([K], Hop(5 * Second, 10 * Second), aggs), batches, [15 * Second, 15 * Second]);
        Assert.Equal([(1, 0)], r.Late);
        Assert.Contains("missed 1 of its 2 HOP windows", Assert.Single(r.Letters).Error, StringComparison.Ordinal);
        Assert.Equal([$"1|0|{10 * Second}|1", $"1|{5 * Second}|{15 * Second}|1"], r.StepSorted(0));
        Assert.Equal([$"1|{10 * Second}|{20 * Second}|1"], r.Steps[^1]);
        DisposeAll(batches);

        // SESSION(6 s): [0, 6 s) closes at watermark 6 s; another event at 0 is then late, one at 1 µs opens [1 µs, 6 s + 1 µs).
        batches = [Rows((1, 0)), Rows((1, 0), (1, 1))];
        r = await Driver.RunAsync(Driver.Factory([K], Session(6 * Second), aggs), batches, [6 * Second, 6 * Second]);
        Assert.Equal([$"1|0|{6 * Second}|1"], r.Steps[0]);
        Assert.Equal([(1, 0)], r.Late);
        Assert.Equal([$"1|1|{6 * Second + 1}|1"], r.Steps[^1]);
        DisposeAll(batches);
    }

    [Fact]
    public async Task Rows_without_an_event_time_go_to_the_dead_letter_output()
    {
        using var b = new BatchBuilder(InputSchema, 4);
        AppendRow(b, 1, null);
        AppendRow(b, 1, 5 * Second);
        var batches = new List<Batch> { b.Build() };
        var r = await Driver.RunAsync(Driver.Factory([K], Tumble(10 * Second), [new(AggregateFunction.CountStar, -1, "n")]), batches, [0]);
        var letter = Assert.Single(r.Letters);
        Assert.Equal("null_event_time", letter.ErrorClass);
        Assert.Equal(0, (int)letter.Pos("batch_row"));
        Assert.Equal([$"1|0|{10 * Second}|1"], r.Steps[^1]);
        DisposeAll(batches);
    }

    [Fact]
    public async Task An_int64_sum_that_overflows_dead_letters_its_group_and_emits_nothing_for_it()
    {
        using var b = new BatchBuilder(InputSchema, 8);
        AppendRow(b, 1, 1 * Second, v: long.MaxValue);
        AppendRow(b, 2, 1 * Second, v: long.MaxValue);
        AppendRow(b, 1, 2 * Second, v: 1);
        AppendRow(b, 2, 2 * Second, v: 1);
        AppendRow(b, 2, 3 * Second, v: -2);   // back in range: exact, not an error
        AppendRow(b, 3, 3 * Second, v: long.MinValue);
        AppendRow(b, 3, 4 * Second, v: -1);
        var batches = new List<Batch> { b.Build() };
        var aggs = new AggregateSpec[] { new(AggregateFunction.Sum, V, "total"), new(AggregateFunction.Avg, V, "mean"), new(AggregateFunction.CountStar, -1, "n") };
        var r = await Driver.RunAsync(Driver.Factory([K], Tumble(10 * Second), aggs), batches, [0]);
        Assert.Equal([$"2|0|{10 * Second}|{long.MaxValue - 1}|{WindowData.Text((double)(long.MaxValue - 1) / 3)}|3"], r.Steps[^1]);
        var letters = r.Letters.Where(l => l.ErrorClass == "overflow").ToList();
        Assert.Equal(2, letters.Count);
        var one = letters.Single(l => l.RawText().Contains("\"k\":1", StringComparison.Ordinal));
        Assert.Equal("total", one.Pos("aggregate"));
        Assert.Contains("9223372036854775808", one.Error, StringComparison.Ordinal);
        Assert.Contains("window_start", one.RawText(), StringComparison.Ordinal);
        Assert.Contains(letters, l => l.Error.Contains("-9223372036854775809", StringComparison.Ordinal));
        DisposeAll(batches);
    }

    [Fact]
    public async Task Min_and_max_of_strings_follow_code_points_and_of_timestamps_and_floats_follow_sql()
    {
        using var b = new BatchBuilder(InputSchema, 8);
        string[] strings = ["z", "é", "😀", "\uFFFD", "A"];
        long[] times = [-5 * Second, 3 * Second, -1, 0, 7];
        double[] floats = [0.0, -0.0, 1.5, double.NaN, -2.25];
        for (var i = 0; i < strings.Length; i++)
        {
            b[K].AppendInt64(1);
            b[S].AppendString(strings[i]);
            b[Ts].AppendInt64(times[i]);
            b[V].AppendNull();
            b[X].AppendDouble(floats[i]);
            b[D].AppendInt32(-3 + i);
            b[F].AppendBool(true);
            b[I].AppendInt32(i);
        }
        var batches = new List<Batch> { b.Build() };
        var aggs = new AggregateSpec[]
        {
            new(AggregateFunction.Min, S, "min_s"), new(AggregateFunction.Max, S, "max_s"),
            new(AggregateFunction.Min, Ts, "min_ts"), new(AggregateFunction.Max, Ts, "max_ts"),
            new(AggregateFunction.Min, X, "min_x"), new(AggregateFunction.Max, X, "max_x"),
            new(AggregateFunction.Min, D, "min_d"), new(AggregateFunction.Max, V, "max_v"),
            new(AggregateFunction.CountDistinct, X, "distinct_x"), new(AggregateFunction.Sum, V, "sum_v"),
        };
        var r = await Driver.RunAsync(Driver.Factory([K], Plain, aggs), batches, [0]);
        // UTF-8 byte order: "A" < "z" < "é" < U+FFFD < U+1F600 (UTF-16 order would put the emoji before U+FFFD).
        Assert.Equal([$"1|A|😀|{-5 * Second}|{3 * Second}|-2.25|NaN|-3|null|4|null"], r.Steps[^1]);
        DisposeAll(batches);
    }

    [Fact]
    public async Task Float_keys_group_minus_zero_with_zero_and_nan_with_nan()
    {
        using var b = new BatchBuilder(InputSchema, 8);
        foreach (var x in new[] { 0.0, -0.0, double.NaN, double.NaN, 1.5 })
        {
            AppendRow(b, 1, 0);
            b[X].Truncate(b.Length - 1);
            b[X].AppendDouble(x);
        }
        var batches = new List<Batch> { b.Build() };
        var r = await Driver.RunAsync(() => new WindowAggregateOperator(InputSchema, [X], Plain, [new(AggregateFunction.CountStar, -1, "n")]), batches, [0]);
        Assert.Equal(["0|2", "1.5|1", "NaN|2"], r.StepSorted(1));
        DisposeAll(batches);
    }

    [Fact]
    public async Task Count_distinct_is_exact_and_approx_count_distinct_is_within_2_percent_on_100k_values()
    {
        const int distinct = 100_000;
        var batches = new List<Batch>();
        using var b = new BatchBuilder(InputSchema, 8192);
        var rnd = new Random(12);
        for (var i = 0; i < distinct * 2; i++)
        {
            var v = i < distinct ? i : rnd.Next(distinct); // every value at least once, half of them twice or more
            AppendRow(b, 1, 0, v: v * 7919L);
            b[S].Truncate(b.Length - 1);
            b[S].AppendString("s" + v.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (b.Length == 8192) batches.Add(b.Build());
        }
        batches.Add(b.Build());
        var aggs = new AggregateSpec[]
        {
            new(AggregateFunction.CountDistinct, V, "exact_v"), new(AggregateFunction.ApproxCountDistinct, V, "approx_v"),
            new(AggregateFunction.CountDistinct, S, "exact_s"), new(AggregateFunction.ApproxCountDistinct, S, "approx_s"),
        };
        var r = await Driver.RunAsync(Driver.Factory([K], Plain, aggs), batches, new long[batches.Count]);
        var parts = Assert.Single(r.Steps[^1]).Split('|').Select(long.Parse).ToArray();
        Assert.Equal(distinct, parts[1]);
        Assert.Equal(distinct, parts[3]);
        Assert.InRange(parts[2], distinct * 0.98, distinct * 1.02);
        Assert.InRange(parts[4], distinct * 0.98, distinct * 1.02);
        DisposeAll(batches);
    }

    [Theory]
    [InlineData(WindowKind.Tumble, 13)]
    [InlineData(WindowKind.Hop, 14)]
    [InlineData(WindowKind.Session, 15)]
    [InlineData(WindowKind.None, 16)]
    public async Task A_restore_from_a_mid_stream_snapshot_gives_the_results_of_an_uninterrupted_run(WindowKind kind, int seed)
    {
        var shape = kind == WindowKind.Session ? new Shape { Keys = 20, StepMicros = 300_000, JitterMicros = 3_000_000 } : new Shape();
        var batches = Generate(seed, shape);
        var spec = kind switch
        {
            WindowKind.Tumble => Tumble(10 * Second, 3 * Second),
            WindowKind.Hop => Hop(4 * Second, 10 * Second),
            WindowKind.Session => Session(4 * Second),
            _ => Plain,
        };
        var wms = Driver.Watermarks(batches, 5 * Second);
        var whole = await Driver.RunAsync(Driver.Factory(KeyAndString, spec), batches, wms);
        foreach (var at in new[] { 0, batches.Count / 3, batches.Count / 2, batches.Count - 2 })
        {
            var restarted = await Driver.RunAsync(Driver.Factory(KeyAndString, spec), batches, wms, restartAfter: at);
            for (var i = 0; i < whole.Steps.Count; i++) Assert.Equal(whole.StepSorted(i), restarted.StepSorted(i));
            Assert.Equal(whole.Late, restarted.Late);
            Assert.Equal(whole.Letters.Select(l => (l.ErrorClass, l.Error)), restarted.Letters.Select(l => (l.ErrorClass, l.Error)));
        }
        // And the snapshot path is exercised against the reference too.
        await CompareAsync(batches, KeyAndString, spec, 5 * Second, restartAfter: batches.Count / 2);
        DisposeAll(batches);
    }

    [Fact]
    public async Task A_checkpoint_of_a_different_aggregation_is_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        var op = new WindowAggregateOperator(InputSchema, [K], Tumble(10 * Second), [new(AggregateFunction.CountStar, -1, "n")]);
        using var metrics = new EngineMetrics("t");
        var ctx = Driver.Context(new CollectingDeadLetters(), metrics);
        await op.OpenAsync(ctx, null, ct);
        var state = await op.SnapshotAsync(1, ct);
        await op.CloseAsync();
        var other = new WindowAggregateOperator(InputSchema, [K], Tumble(20 * Second), [new(AggregateFunction.CountStar, -1, "n")]);
        await Assert.ThrowsAsync<InvalidDataException>(async () => await other.OpenAsync(ctx, state, ct));
        await other.CloseAsync();
    }

    [Fact]
    public async Task Open_groups_stay_bounded_by_the_open_windows()
    {
        var ct = TestContext.Current.CancellationToken;
        var batches = Generate(17, new Shape { Rows = 60_000, Keys = 50, StepMicros = 10_000, JitterMicros = 500_000, FarBackShare = 0, NullTimeShare = 0, MaxBatch = 500 });
        var wms = Driver.Watermarks(batches, Second);
        var op = new WindowAggregateOperator(InputSchema, KeyAndString, Tumble(5 * Second), AllAggregates);
        using var metrics = new EngineMetrics("t");
        await op.OpenAsync(Driver.Context(new CollectingDeadLetters(), metrics), null, ct);
        var output = new CollectingOutput();
        var peak = 0;
        for (var i = 0; i < batches.Count; i++)
        {
            await op.ProcessAsync(batches[i].Retain(), output, ct);
            await op.OnWatermarkAsync(wms[i], output, ct);
            peak = Math.Max(peak, op.OpenGroups);
        }
        // 51 keys (incl. NULL) × 4 strings (incl. NULL) × at most 2 windows open at once.
        Assert.InRange(peak, 1, 51 * 4 * 2);
        Assert.True(output.All.Count() > 52 * 4 * 50, "windows were emitted along the way");
        await op.OnEndOfInputAsync(output, ct);
        Assert.Equal(0, op.OpenGroups);
        await op.CloseAsync();
        DisposeAll(batches);
    }

    [Fact]
    public void Invalid_specs_are_refused_with_a_precise_message()
    {
        var e = Assert.Throws<ArgumentException>(() => new WindowAggregateOperator(InputSchema, [K], Tumble(0), []));
        Assert.Contains("TUMBLE size", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => new WindowAggregateOperator(InputSchema, [K], new WindowSpec(WindowKind.Tumble, V + 100, Second, 0, 0, 0), []));
        Assert.Contains("time column", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => new WindowAggregateOperator(InputSchema, [K], new WindowSpec(WindowKind.Tumble, S, Second, 0, 0, 0), []));
        Assert.Contains("must be a timestamp", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => new WindowAggregateOperator(InputSchema, [K], Plain, [new(AggregateFunction.Sum, S, "x")]));
        Assert.Contains("sum needs an int32, int64 or float64 column; 's' is string", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => new WindowAggregateOperator(InputSchema, [K], Plain, [new(AggregateFunction.CountStar, -1, "x", V)]));
        Assert.Contains("must be bool", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => new WindowAggregateOperator(InputSchema, [K], Hop(1, 10_000), []));
        Assert.Contains("HOP size / slide", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_output_schema_has_keys_then_window_bounds_then_aggregates()
    {
        var op = new WindowAggregateOperator(InputSchema, [S, K], Hop(Second, 2 * Second), [new(AggregateFunction.CountStar, -1, "n"), new(AggregateFunction.Min, D, "first_day"), new(AggregateFunction.Avg, I, "mean"), new(AggregateFunction.Sum, I, "total")]);
        Assert.Equal(["s", "k", "window_start", "window_end", "n", "first_day", "mean", "total"], op.OutputSchema.FieldsList.Select(f => f.Name));
        Assert.Equal([ColumnKind.String, ColumnKind.Int64, ColumnKind.Timestamp, ColumnKind.Timestamp, ColumnKind.Int64, ColumnKind.Date, ColumnKind.Float64, ColumnKind.Int64],
            op.OutputSchema.FieldsList.Select(f => ColumnTypes.FromArrow(f.DataType)));
        Assert.False(op.OutputSchema.FieldsList[4].IsNullable);
        Assert.True(op.IsStateful);
        Assert.Contains("HOP(ts, 1000000us, 2000000us)", op.Describe(), StringComparison.Ordinal);
    }

    private static Batch Rows(params (long Key, long Ts)[] rows)
    {
        using var b = new BatchBuilder(InputSchema, 8);
        foreach (var (k, t) in rows) AppendRow(b, k, t);
        return b.Build();
    }

    private static void AppendRow(BatchBuilder b, long? k, long? ts, long? v = 1)
    {
        if (k is { } key) b[K].AppendInt64(key); else b[K].AppendNull();
        b[S].AppendString("a");
        if (ts is { } t) b[Ts].AppendInt64(t); else b[Ts].AppendNull();
        if (v is { } x) b[V].AppendInt64(x); else b[V].AppendNull();
        b[X].AppendDouble(1);
        b[D].AppendInt32(1);
        b[F].AppendBool(true);
        b[I].AppendInt32(1);
    }
}
