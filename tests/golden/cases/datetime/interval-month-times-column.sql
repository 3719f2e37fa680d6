-- input: months
-- check: duckdb
SELECT id, ts + n * INTERVAL '1' MONTH AS a, ts - INTERVAL '1' MONTH * n AS b FROM months
