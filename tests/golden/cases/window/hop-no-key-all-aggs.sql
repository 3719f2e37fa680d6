-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT window_start, window_end, count(*) AS n, min(v) AS mn, max(v) AS mx, avg(x) AS ax, count(DISTINCT key) AS keys FROM events GROUP BY HOP(ts, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE)
