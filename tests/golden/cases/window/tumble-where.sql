-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT key, window_end, sum(x) AS sx FROM events WHERE v > 20 GROUP BY key, TUMBLE(ts, INTERVAL '1' MINUTE)
