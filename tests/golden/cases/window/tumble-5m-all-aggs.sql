-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT key, window_start, window_end, count(*) AS n, count(v) AS nv, sum(v) AS s, min(v) AS mn, max(v) AS mx, avg(x) AS ax, min(x) AS mnx, max(x) AS mxx
FROM events GROUP BY key, TUMBLE(ts, INTERVAL '5' MINUTE)
