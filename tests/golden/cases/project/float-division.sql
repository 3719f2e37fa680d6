-- input: orders
-- check: duckdb
SELECT id, amount / 4.0 AS quarter FROM orders
