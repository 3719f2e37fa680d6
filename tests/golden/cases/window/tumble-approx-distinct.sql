-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT window_start, approx_count_distinct(v) AS dv FROM events GROUP BY TUMBLE(ts, INTERVAL '5' MINUTE)
