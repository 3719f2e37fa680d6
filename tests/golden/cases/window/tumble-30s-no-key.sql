-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT window_start, window_end, count(*) AS n FROM events GROUP BY TUMBLE(ts, INTERVAL '30' SECOND)
