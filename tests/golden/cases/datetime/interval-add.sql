-- input: orders
-- check: duckdb
SELECT id, ts + INTERVAL '1' HOUR AS later, ts - INTERVAL '90 seconds' AS earlier FROM orders
