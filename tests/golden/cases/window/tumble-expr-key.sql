-- input: events
-- check: duckdb
-- event_time: ts 1h
SELECT upper(key) AS k, window_start, window_end, sum(v) AS s FROM events GROUP BY upper(key), TUMBLE(ts, INTERVAL '2' MINUTE)
