-- input: orders
-- check: duckdb
SELECT id, ts + INTERVAL '1 hour 30 minutes' AS t FROM orders
