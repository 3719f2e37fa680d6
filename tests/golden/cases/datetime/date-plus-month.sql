-- input: months
-- check: duckdb
SELECT id, d + INTERVAL '1' MONTH AS a, d - INTERVAL '1 year' AS b FROM months
