using System.Text;
using AiEtl.Engine.Kafka;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using Confluent.Kafka;
using static AiEtl.Integration.Tests.Kafka.KafkaTestSupport;

namespace AiEtl.Integration.Tests.Kafka;

[Collection("kafka")]
public sealed class KafkaSourceTests(KafkaFixture fx)
{
    private string Brokers => fx.Cluster.BootstrapServers;

    private string NewTopic(string name, int partitions)
    {
        var topic = $"{name}-{Guid.NewGuid().ToString("N")[..12]}";
        fx.Cluster.CreateTopic(topic, partitions);
        return topic;
    }

    [Fact]
    public async Task Every_message_reaches_the_sink_exactly_once_with_parallelism_2()
    {
        const int partitions = 4, count = 20_000;
        var topic = NewTopic("par2", partitions);
        Produce(Brokers, topic, Enumerable.Range(0, count).Select(i => (i % partitions, Order(i))));

        var source = new KafkaSource(Options(Brokers, topic, "g-par2"));
        Assert.Equal(partitions, source.MaxParallelism);
        var sink = new CollectingSink("out");
        var g = new JobGraph { Name = "kafka-par2" };
        var src = g.Add(new JobVertex
        {
            Name = "source:orders", Parallelism = 2, Source = source, OutputSchema = source.Schema,
            CreateChain = _ => [],
        });
        var snk = g.Add(new JobVertex
        {
            Name = "sink:out", Parallelism = 2, OutputSchema = source.Schema, IsSink = true,
            CreateChain = _ => [new SinkOperator(sink, source.Schema)],
        });
        JobGraph.Connect(src, snk, Partitioning.Forward);

        using var stop = new CancellationTokenSource();
        var metrics = new EngineMetrics("kafka-par2");
        var run = new JobRunner(g, new JobOptions { DeadLetters = new ListDeadLetters(), Metrics = metrics, CheckpointInterval = TimeSpan.FromMilliseconds(300) })
            .RunAsync(stop.Token, TestContext.Current.CancellationToken);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (sink.Written.Count < count && DateTime.UtcNow < deadline && !run.IsCompleted) await Task.Delay(50, TestContext.Current.CancellationToken);
        await Task.Delay(300, TestContext.Current.CancellationToken); // anything extra would show up now
        await stop.CancelAsync();
        var result = await run;

        Assert.True(result.Stopped);
        var ids = sink.Written.Select(r => long.Parse(r.Split('|')[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(count, ids.Count);
        Assert.Equal(count, ids.Distinct().Count());
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), ids.Order());
        Assert.Equal(count, sink.Committed.Count);
        Assert.Equal("0|n0|0|2026-01-01T00:00:00.000000Z", sink.Written.First(r => r.StartsWith("0|", StringComparison.Ordinal)));

        // The final checkpoint committed every partition's end offset to the group.
        Assert.Equal(Enumerable.Repeat((long)(count / partitions), partitions), Committed(Brokers, "g-par2", topic, partitions));
    }

    [Fact]
    public void Readers_own_partitions_by_index_modulo_parallelism()
    {
        var topic = NewTopic("owners", 5);
        var source = new KafkaSource(Options(Brokers, topic, "g-owners"));
        var dl = new ListDeadLetters();
        int[] Owned(int i, int n) => ((KafkaSourceReader)source.CreateReader(Context(dl, i, n))).Assignment.Select(tp => tp.Partition.Value).ToArray();
        Assert.Equal([0, 2, 4], Owned(0, 2));
        Assert.Equal([1, 3], Owned(1, 2));
        Assert.Equal([2], Owned(2, 3));
        Assert.Empty(Owned(5, 6));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Malformed_messages_go_to_dead_letters_with_topic_partition_offset_and_raw_bytes(bool perMessage)
    {
        var topic = NewTopic(perMessage ? "malformed-pm" : "malformed", 2);
        byte[][] values =
        [
            Order(1),
            "{\"id\": 2, \"name\": \"x\""u8.ToArray(),            // truncated
            "{\"id\": \"3\"}"u8.ToArray(),                         // type mismatch
            [0x7B, 0x22, 0x69, 0x64, 0x22, 0x3A, 0x34, 0x2C, 0x22, 0x6E, 0x61, 0x6D, 0x65, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D], // invalid UTF-8
            Order(5),
            "{\"name\": \"no id\"}"u8.ToArray(),                   // required column missing
            [],                                                    // empty
        ];
        // Even indexes to partition 0, odd to partition 1: offsets are index / 2.
        Produce(Brokers, topic, values.Select((v, i) => (i % 2, v)));

        var dl = new ListDeadLetters();
        await using var reader = new KafkaSource(Options(Brokers, topic, "g-malformed") with { PerMessageConsume = perMessage }).CreateReader(Context(dl));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var rows = new List<string>();
        while ((rows.Count + dl.Count) < values.Length && DateTime.UtcNow < deadline)
        {
            using var b = await reader.ReadNextBatchAsync(TestContext.Current.CancellationToken);
            rows.AddRange(Rows(b!.Data));
        }
        Assert.Equal(["1", "5"], rows.Select(r => r.Split('|')[0]).Order());
        Assert.Equal(5, dl.Count);
        foreach (var letter in dl.Letters)
        {
            var pos = letter.Position.ToDictionary(kv => kv.Key, kv => kv.Value);
            Assert.Equal(topic, pos["topic"]);
            var partition = (int)pos["partition"];
            var offset = (long)pos["offset"];
            var index = (int)(offset * 2 + partition);
            Assert.Equal(values[index], letter.Raw.ToArray());
            Assert.Equal("orders", letter.Source);
        }
        var byIndex = dl.Letters.ToDictionary(l => (int)((long)l.Position[2].Value * 2 + (int)l.Position[1].Value));
        Assert.Equal("decode", byIndex[1].ErrorClass);
        Assert.Equal("schema", byIndex[2].ErrorClass);
        Assert.Contains("id", byIndex[2].Error, StringComparison.Ordinal);
        Assert.Equal("decode", byIndex[3].ErrorClass);
        Assert.Equal("schema", byIndex[5].ErrorClass);
        Assert.Equal("decode", byIndex[6].ErrorClass);
    }

    /// <summary>
    /// A corpus of valid, damaged (cut short, a byte changed, a byte inserted), random and empty messages and
    /// tombstones: every message comes out exactly once, as a row or as a dead letter carrying its position and its
    /// exact bytes, and every undamaged message as its row.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_corpus_of_damaged_and_random_messages_loses_nothing_and_keeps_every_raw_byte(bool perMessage)
    {
        const int partitions = 3, count = 3_000;
        var topic = NewTopic(perMessage ? "corpus-pm" : "corpus", partitions);
        var rng = new Random(20261129);
        var values = new byte[]?[count];
        var intact = new bool[count];
        for (var i = 0; i < count; i++)
        {
            var order = Order(i);
            var kind = rng.Next(100);
            if (kind < 40)
            {
                values[i] = order;
                intact[i] = true;
            }
            else if (kind < 50) values[i] = order[..rng.Next(order.Length)];
            else if (kind < 60)
            {
                var v = (byte[])order.Clone();
                v[rng.Next(v.Length)] = (byte)rng.Next(256);
                values[i] = v;
            }
            else if (kind < 70)
            {
                var at = rng.Next(order.Length + 1);
                values[i] = [.. order[..at], (byte)rng.Next(256), .. order[at..]];
            }
            else if (kind < 90)
            {
                var v = new byte[rng.Next(1, 3000)];
                rng.NextBytes(v);
                values[i] = v;
            }
            else if (kind < 95) values[i] = [];
            else values[i] = null; // a tombstone
        }
        // Message i goes to partition i % 3, so its offset there is i / 3.
        Produce(Brokers, topic, Enumerable.Range(0, count).Select(i => (i % partitions, values[i] ?? [])), (i, m) => values[i] is null ? new Message<byte[]?, byte[]> { Value = null! } : m);

        var dl = new ListDeadLetters();
        var options = Options(Brokers, topic, "g-corpus") with { MetadataColumns = ["_partition", "_offset"], PerMessageConsume = perMessage };
        await using var reader = new KafkaSource(options).CreateReader(Context(dl));
        var rows = new List<string[]>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (rows.Count + dl.Count < count && DateTime.UtcNow < deadline)
        {
            using var b = await reader.ReadNextBatchAsync(TestContext.Current.CancellationToken);
            rows.AddRange(Rows(b!.Data).Select(r => r.Split('|')));
        }
        var seen = new int[count];
        foreach (var r in rows)
        {
            var i = (int)(long.Parse(r[^1], System.Globalization.CultureInfo.InvariantCulture) * partitions + int.Parse(r[^2], System.Globalization.CultureInfo.InvariantCulture));
            seen[i]++;
            if (intact[i]) Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), r[0]);
        }
        foreach (var letter in dl.Letters)
        {
            var pos = letter.Position.ToDictionary(kv => kv.Key, kv => kv.Value);
            var i = (int)((long)pos["offset"] * partitions + (int)pos["partition"]);
            seen[i]++;
            Assert.False(intact[i], $"message {i} is intact but went to the dead letters: {letter.Error}");
            Assert.Equal(values[i] ?? [], letter.Raw.ToArray());
            Assert.False(string.IsNullOrEmpty(letter.Error));
        }
        Assert.All(Enumerable.Range(0, count), i => Assert.True(seen[i] == 1, $"message {i} came out {seen[i]} times"));
        Assert.True(dl.Count > count / 3, $"only {dl.Count} dead letters from a corpus that is more than half damaged");
    }

    [Fact]
    public async Task Restoring_a_snapshot_position_resumes_with_nothing_lost_or_duplicated()
    {
        const int partitions = 3, count = 9_000;
        var topic = NewTopic("restore", partitions);
        Produce(Brokers, topic, Enumerable.Range(0, count).Select(i => (i % partitions, Order(i))));
        var options = Options(Brokers, topic, "g-restore") with { BatchSize = 500 };
        var source = new KafkaSource(options);

        byte[] snapshot;
        List<string> before;
        await using (var first = source.CreateReader(Context(new ListDeadLetters())))
        {
            before = await ReadRowsAsync(first, count, stopAfterBatch: n => n == 6);
            snapshot = first.SnapshotPosition();
            // Rows read after the snapshot are lost with the crash (never checkpointed).
            var after = await ReadRowsAsync(first, 1000);
            Assert.NotEmpty(after);
        }
        Assert.InRange(before.Count, 1, count - 1);

        await using var second = source.CreateReader(Context(new ListDeadLetters()));
        second.RestorePosition(snapshot);
        var rest = await ReadRowsAsync(second, count - before.Count);
        var extra = await ReadRowsAsync(second, 1, TimeSpan.FromMilliseconds(500));
        Assert.Empty(extra);

        var ids = before.Concat(rest).Select(r => long.Parse(r.Split('|')[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(count, ids.Count);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), ids.Order());
    }

    [Fact]
    public async Task Offsets_are_committed_to_the_group_only_when_the_checkpoint_completes()
    {
        const int partitions = 2, count = 1000;
        var topic = NewTopic("commit", partitions);
        Produce(Brokers, topic, Enumerable.Range(0, count).Select(i => (i % partitions, Order(i))));
        const string group = "g-commit";
        await using var reader = new KafkaSource(Options(Brokers, topic, group)).CreateReader(Context(new ListDeadLetters()));
        var rows = await ReadRowsAsync(reader, count);
        Assert.Equal(count, rows.Count);

        _ = reader.SnapshotPosition(); // the barrier of checkpoint 1
        Assert.All(Committed(Brokers, group, topic, partitions), o => Assert.Equal(Offset.Unset.Value, o));

        await reader.OnCheckpointCompleteAsync(1, TestContext.Current.CancellationToken);
        Assert.Equal([count / 2L, count / 2L], Committed(Brokers, group, topic, partitions));

        // More messages read but not yet checkpointed do not move the committed offsets.
        Produce(Brokers, topic, [(0, Order(count)), (1, Order(count + 1))]);
        Assert.Equal(2, (await ReadRowsAsync(reader, 2)).Count);
        await reader.OnCheckpointCompleteAsync(1, TestContext.Current.CancellationToken);
        Assert.Equal([count / 2L, count / 2L], Committed(Brokers, group, topic, partitions));
        _ = reader.SnapshotPosition();
        await reader.OnCheckpointCompleteAsync(2, TestContext.Current.CancellationToken);
        Assert.Equal([count / 2L + 1, count / 2L + 1], Committed(Brokers, group, topic, partitions));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Metadata_columns_carry_key_topic_partition_offset_timestamp_and_headers(bool perMessage)
    {
        var topic = NewTopic(perMessage ? "meta-pm" : "meta", 2);
        var ts = new DateTime(2026, 3, 4, 5, 6, 7, 890, DateTimeKind.Utc);
        Produce(Brokers, topic, [(1, Order(10)), (1, Order(11)), (0, Order(12))], (i, m) =>
        {
            m.Key = i == 2 ? null : Encoding.UTF8.GetBytes($"k{i}");
            m.Timestamp = new Timestamp(ts.AddSeconds(i));
            if (i == 1) m.Headers = new Headers { { "trace", "t-1"u8.ToArray() }, { "bin", [0xFF, 0x00] }, { "trace", "t-2"u8.ToArray() } };
            return m;
        });
        var options = Options(Brokers, topic, "g-meta") with { MetadataColumns = ["_key", "_topic", "_partition", "_offset", "_timestamp", "_headers"], PerMessageConsume = perMessage };
        var source = new KafkaSource(options);
        Assert.Equal(["id", "name", "amount", "ts", "_key", "_topic", "_partition", "_offset", "_timestamp", "_headers"], source.Schema.FieldsList.Select(f => f.Name));
        await using var reader = source.CreateReader(Context(new ListDeadLetters()));
        var rows = (await ReadRowsAsync(reader, 3)).Select(r => r.Split('|')).ToDictionary(r => r[0]);
        Assert.Equal(!perMessage, ((KafkaSourceReader)reader).UsesBatchConsume);
        Assert.Equal(["k0", topic, "1", "0", "2026-03-04T05:06:07.890000Z", "[]"], rows["10"][4..]);
        Assert.Equal(["k1", topic, "1", "1", "2026-03-04T05:06:08.890000Z",
            """[{"key":"trace","value":"t-1"},{"key":"bin","value_base64":"/wA="},{"key":"trace","value":"t-2"}]"""], rows["11"][4..]);
        Assert.Equal(["null", topic, "0", "0", "2026-03-04T05:06:09.890000Z", "[]"], rows["12"][4..]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_key_that_is_not_utf8_sends_the_message_to_dead_letters_when_the_key_is_a_column(bool perMessage)
    {
        var topic = NewTopic(perMessage ? "badkey-pm" : "badkey", 1);
        Produce(Brokers, topic, [(0, Order(1)), (0, Order(2))], (i, m) => { m.Key = i == 0 ? [0xC3, 0x28] : "ok"u8.ToArray(); return m; });
        var dl = new ListDeadLetters();
        await using var reader = new KafkaSource(Options(Brokers, topic, "g-badkey") with { MetadataColumns = ["_key"], PerMessageConsume = perMessage }).CreateReader(Context(dl));
        var rows = await ReadRowsAsync(reader, 1);
        Assert.Equal(["2|n2|0.5|2026-01-01T00:00:02.000000Z|ok"], rows);
        var letter = Assert.Single(dl.Letters);
        Assert.Equal(Order(1), letter.Raw.ToArray());
        Assert.Contains("key is not valid UTF-8", letter.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_positions_earliest_latest_and_committed_else_earliest()
    {
        const int partitions = 2;
        var topic = NewTopic("start", partitions);
        Produce(Brokers, topic, Enumerable.Range(0, 10).Select(i => (i % partitions, Order(i))));

        async Task<List<long>> ReadIds(KafkaStart start, string group, Action? afterStart = null, int expect = 100)
        {
            await using var reader = new KafkaSource(Options(Brokers, topic, group) with { Start = start }).CreateReader(Context(new ListDeadLetters()));
            var rows = new List<string>();
            using (var first = await reader.ReadNextBatchAsync(TestContext.Current.CancellationToken)) // starts and assigns
                rows.AddRange(Rows(first!.Data));
            afterStart?.Invoke();
            rows.AddRange(await ReadRowsAsync(reader, expect - rows.Count, TimeSpan.FromSeconds(5)));
            return rows.Select(r => long.Parse(r.Split('|')[0], System.Globalization.CultureInfo.InvariantCulture)).Order().ToList();
        }

        // earliest: everything.
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), await ReadIds(KafkaStart.Earliest, "g-earliest", expect: 10));

        // latest: only what is produced after the start.
        Assert.Equal([10L, 11L], await ReadIds(KafkaStart.Latest, "g-latest", () => Produce(Brokers, topic, [(0, Order(10)), (1, Order(11))]), expect: 2));

        // committed: partition 0 from its committed offset 3; partition 1 has none, so from the earliest.
        using (var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Brokers, GroupId = "g-committed" }).Build())
            c.Commit([new TopicPartitionOffset(topic, 0, 3)]);
        var ids = await ReadIds(KafkaStart.Committed, "g-committed", expect: 3 + 6);
        // Partition 0 holds 0,2,4,6,8,10 (offsets 0..5): from offset 3 → 6, 8, 10. Partition 1: 1,3,5,7,9,11.
        Assert.Equal([1L, 3, 5, 6, 7, 8, 9, 10, 11], ids);
    }

    [Fact]
    public async Task An_offset_beyond_the_partition_end_fails_naming_the_partition_unless_reset_is_allowed()
    {
        var topic = NewTopic("oor-high", 1);
        Produce(Brokers, topic, Enumerable.Range(0, 5).Select(i => (0, Order(i))));
        var position = Encoding.UTF8.GetBytes($"{{\"v\":1,\"partitions\":[{{\"topic\":\"{topic}\",\"partition\":0,\"offset\":50}}]}}");

        await using (var reader = new KafkaSource(Options(Brokers, topic, "g-oor")).CreateReader(Context(new ListDeadLetters())))
        {
            reader.RestorePosition(position);
            var e = await Assert.ThrowsAsync<KafkaSourceException>(async () => await reader.ReadNextBatchAsync(TestContext.Current.CancellationToken));
            Assert.Contains($"{topic} partition 0", e.Message, StringComparison.Ordinal);
            Assert.Contains("offset 50", e.Message, StringComparison.Ordinal);
            Assert.Contains("offsets 0..4", e.Message, StringComparison.Ordinal);
        }

        await using (var reader = new KafkaSource(Options(Brokers, topic, "g-oor") with { ResetOnOffsetOutOfRange = true }).CreateReader(Context(new ListDeadLetters())))
        {
            reader.RestorePosition(position);
            Assert.Equal(5, (await ReadRowsAsync(reader, 5)).Count);
        }
    }

    [Fact]
    public async Task Offsets_deleted_by_retention_fail_with_the_lost_range_unless_reset_is_allowed()
    {
        // The mock broker keeps ~5 MiB per partition and drops older data, like retention would.
        var topic = NewTopic("oor-low", 1);
        var pad = new string('x', 20_000);
        Produce(Brokers, topic, Enumerable.Range(0, 600).Select(i => (0, Encoding.UTF8.GetBytes($"{{\"id\":{i},\"pad\":\"{pad}\"}}"))));
        WatermarkOffsets wm;
        using (var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Brokers, GroupId = "wm" }).Build())
            wm = c.QueryWatermarkOffsets(new TopicPartition(topic, 0), TimeSpan.FromSeconds(10));
        Assert.True(wm.Low.Value > 0, $"the mock kept everything (low watermark {wm.Low.Value}); produce more");

        var position = Encoding.UTF8.GetBytes($"{{\"v\":1,\"partitions\":[{{\"topic\":\"{topic}\",\"partition\":0,\"offset\":0}}]}}");
        await using (var reader = new KafkaSource(Options(Brokers, topic, "g-oor-low")).CreateReader(Context(new ListDeadLetters())))
        {
            reader.RestorePosition(position);
            var e = await Assert.ThrowsAsync<KafkaSourceException>(async () => await reader.ReadNextBatchAsync(TestContext.Current.CancellationToken));
            Assert.Contains($"{topic} partition 0", e.Message, StringComparison.Ordinal);
            Assert.Contains($"offsets 0..{wm.Low.Value - 1} ({wm.Low.Value} messages) were deleted", e.Message, StringComparison.Ordinal);
        }

        await using (var reader = new KafkaSource(Options(Brokers, topic, "g-oor-low") with { ResetOnOffsetOutOfRange = true }).CreateReader(Context(new ListDeadLetters())))
        {
            reader.RestorePosition(position);
            var rows = await ReadRowsAsync(reader, (int)(wm.High.Value - wm.Low.Value));
            Assert.Equal(wm.Low.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), rows.Select(r => r.Split('|')[0]).First());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Offsets_deleted_while_the_reader_lags_fail_with_the_lost_range_unless_reset_is_allowed(bool reset)
    {
        var topic = NewTopic(reset ? "lag-reset" : "lag-fail", 1);
        var pad = new string('x', 20_000);
        byte[] Big(int i) => Encoding.UTF8.GetBytes($"{{\"id\":{i},\"pad\":\"{pad}\"}}");
        Produce(Brokers, topic, Enumerable.Range(0, 10).Select(i => (0, Big(i))));
        var options = Options(Brokers, topic, "g-lag") with
        {
            BatchSize = 2,
            MaxPrefetchKBytes = 64,
            ResetOnOffsetOutOfRange = reset,
            Properties = new Dictionary<string, string> { ["fetch.max.bytes"] = "65536", ["max.partition.fetch.bytes"] = "65536", ["message.max.bytes"] = "65536" },
        };
        await using var reader = new KafkaSource(options).CreateReader(Context(new ListDeadLetters()));
        var first = await ReadRowsAsync(reader, 2);
        Assert.Equal("0", first[0].Split('|')[0]);

        // The broker drops the oldest data (as retention would) while the reader is behind.
        Produce(Brokers, topic, Enumerable.Range(10, 600).Select(i => (0, Big(i))));
        WatermarkOffsets wm;
        using (var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Brokers, GroupId = "wm" }).Build())
            wm = c.QueryWatermarkOffsets(new TopicPartition(topic, 0), TimeSpan.FromSeconds(10));
        Assert.True(wm.Low.Value > 10);

        if (!reset)
        {
            var e = await Assert.ThrowsAsync<KafkaSourceException>(async () => await ReadRowsAsync(reader, 10_000, TimeSpan.FromSeconds(30)));
            Assert.Contains($"{topic} partition 0", e.Message, StringComparison.Ordinal);
            Assert.Matches(@"offsets \d+\.\.\d+ \(\d+ messages\) were deleted before they were read", e.Message);
        }
        else
        {
            var ids = new List<int>();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!ids.Contains(609) && DateTime.UtcNow < deadline)
            {
                using var b = await reader.ReadNextBatchAsync(TestContext.Current.CancellationToken);
                ids.AddRange(Rows(b!.Data).Select(r => int.Parse(r.Split('|')[0], System.Globalization.CultureInfo.InvariantCulture)));
            }
            Assert.Contains(609, ids);
            Assert.True(ids.Count < 608, "a gap was skipped");
        }
    }

    [Fact]
    public async Task Several_topics_are_split_by_partition_and_positions_name_the_topic()
    {
        var a = NewTopic("multi-a", 2);
        var b = NewTopic("multi-b", 3);
        Produce(Brokers, a, Enumerable.Range(0, 100).Select(i => (i % 2, Order(i))));
        Produce(Brokers, b, Enumerable.Range(100, 90).Select(i => (i % 3, Order(i))));
        var source = new KafkaSource(Options(Brokers, a, "g-multi") with { Topics = [a, b], MetadataColumns = ["_topic"] });
        Assert.Equal(3, source.MaxParallelism);
        var rows = new List<string>();
        var positions = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            await using var reader = source.CreateReader(Context(new ListDeadLetters(), i, 2));
            var expected = i == 0 ? 50 + 60 : 50 + 30;
            rows.AddRange(await ReadRowsAsync(reader, expected));
            positions.Add(Encoding.UTF8.GetString(reader.SnapshotPosition()));
        }
        Assert.Equal(190, rows.Count);
        Assert.Equal(Enumerable.Range(0, 190).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(), rows.Select(r => r.Split('|')[0]).Order());
        Assert.All(rows, r => Assert.Equal(long.Parse(r.Split('|')[0], System.Globalization.CultureInfo.InvariantCulture) < 100 ? a : b, r.Split('|')[^1]));
        Assert.Contains($"{{\"topic\":\"{b}\",\"partition\":2,\"offset\":30}}", positions[0], StringComparison.Ordinal);
        Assert.Contains($"{{\"topic\":\"{a}\",\"partition\":1,\"offset\":50}}", positions[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stop_during_a_read_returns_the_rows_taken_so_the_position_matches_them()
    {
        var topic = NewTopic("stop", 1);
        Produce(Brokers, topic, Enumerable.Range(0, 20_000).Select(i => (0, Order(i))));
        await using var reader = new KafkaSource(Options(Brokers, topic, "g-stop") with { BatchSize = 1_000_000, PollTimeout = TimeSpan.FromSeconds(20) })
            .CreateReader(Context(new ListDeadLetters()));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(1500));
        using var batch = await reader.ReadNextBatchAsync(cts.Token);
        Assert.True(cts.IsCancellationRequested);
        Assert.NotNull(batch);
        Assert.True(batch.Length > 0);
        var position = Encoding.UTF8.GetString(reader.SnapshotPosition());
        Assert.Contains($"\"offset\":{batch.Length}}}", position, StringComparison.Ordinal);
        // A read with a token cancelled beforehand takes nothing.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await reader.ReadNextBatchAsync(cts.Token));
        Assert.Equal(position, Encoding.UTF8.GetString(reader.SnapshotPosition()));
    }

    [Fact]
    public async Task A_read_returns_an_empty_batch_after_the_poll_timeout_when_nothing_arrives()
    {
        var topic = NewTopic("empty", 2);
        await using var reader = new KafkaSource(Options(Brokers, topic, "g-empty") with { PollTimeout = TimeSpan.FromMilliseconds(50) }).CreateReader(Context(new ListDeadLetters()));
        using (await reader.ReadNextBatchAsync(TestContext.Current.CancellationToken)) { } // starts
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var batch = await reader.ReadNextBatchAsync(TestContext.Current.CancellationToken);
        Assert.NotNull(batch);
        Assert.Equal(0, batch.Length);
        Assert.Equal(4, batch.Data.ColumnCount);
        Assert.InRange(sw.ElapsedMilliseconds, 40, 2000);
    }

    [Fact]
    public void Unreachable_brokers_fail_the_source_when_it_is_planned_naming_topic_and_brokers()
    {
        // (The mock cluster creates any topic a client asks about, so a missing topic cannot be shown here;
        // a real broker answers UNKNOWN_TOPIC_OR_PARTITION, which fails the same way.)
        var source = new KafkaSource(Options("127.0.0.1:1", "orders", "g") with { RequestTimeout = TimeSpan.FromSeconds(2) });
        var e = Assert.Throws<KafkaSourceException>(() => source.MaxParallelism);
        Assert.Contains("topic 'orders'", e.Message, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_bundled_librdkafka_loads()
    {
        Assert.True(Library.Version > 0);
        var maps = File.ReadAllLines("/proc/self/maps").Where(l => l.Contains("librdkafka", StringComparison.Ordinal)).Select(l => l[(l.LastIndexOf(' ') + 1)..]).Distinct().ToList();
        Assert.NotEmpty(maps);
        TestContext.Current.SendDiagnosticMessage($"librdkafka {Library.VersionString} from {string.Join(", ", maps)}");
    }
}
