-- input: months
-- check: hand: per-row errors (timestamp out of range after month arithmetic → dead letter, the rest of the batch goes on)
SELECT id, n, ts + n * INTERVAL '700' YEAR AS t FROM months
