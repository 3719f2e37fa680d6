-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT window_start, count(DISTINCT key) AS keys, count(*) AS n FROM events GROUP BY TUMBLE(ts, INTERVAL '2' MINUTE)
