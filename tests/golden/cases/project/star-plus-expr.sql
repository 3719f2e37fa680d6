-- input: orders
-- check: duckdb
SELECT *, amount * 2 AS doubled FROM orders WHERE id % 3 = 0
