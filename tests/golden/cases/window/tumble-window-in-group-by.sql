-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT key, window_start, count(*) AS n FROM events GROUP BY key, window_start, TUMBLE(ts, INTERVAL '1' MINUTE)
