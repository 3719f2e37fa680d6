-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT key, window_start, window_end, count(*) AS n FROM events GROUP BY key, TUMBLE(ts, INTERVAL '90 seconds')
