-- input: orders
-- check: duckdb
SELECT id, qty BETWEEN NULL AND 5 AS b FROM orders
