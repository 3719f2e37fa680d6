-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT key, window_start, window_end, count(*) AS n, sum(v) AS total
FROM events
GROUP BY key, HOP(ts, INTERVAL '20' SECOND, INTERVAL '60' SECOND)
