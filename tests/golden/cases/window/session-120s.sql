-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT key, window_start, window_end, count(*) AS n, sum(v) AS total
FROM events
GROUP BY key, SESSION(ts, INTERVAL '120' SECOND)
