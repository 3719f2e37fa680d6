-- input: orders
-- check: duckdb
SELECT id, amount, name FROM orders
