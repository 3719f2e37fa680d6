-- input: orders
-- check: duckdb
SELECT id FROM orders WHERE qty IN (1, 2, 3, 5, 8, 13)
