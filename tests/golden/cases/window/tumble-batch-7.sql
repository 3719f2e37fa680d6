-- input: events
-- check: duckdb
-- event_time: ts 1h
-- batch_size: 7
SELECT key, window_start, window_end, count(*) AS n, avg(x) AS ax
FROM events
GROUP BY key, TUMBLE(ts, INTERVAL '1' MINUTE)
