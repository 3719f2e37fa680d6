-- input: events
-- check: duckdb
-- event_time: ts 1h
-- batch_size: 1
-- parallelism: 1
SELECT key, window_start, window_end, count(*) AS n FROM events GROUP BY key, HOP(ts, INTERVAL '30' SECOND, INTERVAL '2' MINUTE)
