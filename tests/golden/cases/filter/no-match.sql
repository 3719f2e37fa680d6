-- input: orders
-- check: duckdb
SELECT id FROM orders WHERE amount > 1000000
