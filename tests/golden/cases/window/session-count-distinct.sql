-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT key, window_start, count(DISTINCT v) AS dv FROM events GROUP BY key, SESSION(ts, INTERVAL '1' MINUTE)
