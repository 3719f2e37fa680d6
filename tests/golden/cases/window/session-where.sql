-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT key, window_start, window_end, count(*) AS n, avg(v) AS av FROM events WHERE v IS NOT NULL GROUP BY key, SESSION(ts, INTERVAL '45' SECOND)
