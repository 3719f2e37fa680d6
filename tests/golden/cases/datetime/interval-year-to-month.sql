-- input: months
-- check: duckdb
SELECT id, ts + INTERVAL '1-2' YEAR TO MONTH AS a, ts - INTERVAL '-0-11' YEAR TO MONTH AS b FROM months
