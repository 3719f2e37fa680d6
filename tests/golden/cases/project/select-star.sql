-- input: orders
-- check: duckdb
SELECT * FROM orders
