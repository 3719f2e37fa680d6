-- input: months
-- check: duckdb
SELECT id, ts + INTERVAL '2 years' AS a, ts - INTERVAL '1 year 1 month' AS b, INTERVAL '3 months' + ts AS c FROM months
