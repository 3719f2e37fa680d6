-- input: late
-- check: duckdb
-- event_time: ts 0s
-- batch_size: 1
-- parallelism: 1
SELECT id, key, ts FROM late WHERE v > 2
