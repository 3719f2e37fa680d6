-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT window_start, window_end, count(*) AS n, max(x) AS mx FROM events GROUP BY SESSION(ts, INTERVAL '20' SECOND)
