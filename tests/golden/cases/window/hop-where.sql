-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT key, window_start, window_end, sum(x) AS sx FROM events WHERE key <> 'a' GROUP BY key, HOP(ts, INTERVAL '30' SECOND, INTERVAL '1' MINUTE)
