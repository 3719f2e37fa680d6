-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT key, window_start, window_end, count(*) FILTER (WHERE v > 50) AS big, sum(v) FILTER (WHERE x < 5) AS s FROM events GROUP BY key, TUMBLE(ts, INTERVAL '3' MINUTE)
