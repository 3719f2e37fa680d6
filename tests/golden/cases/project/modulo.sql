-- input: orders
-- check: duckdb
SELECT id, qty % 3 AS m, id % 7 AS r FROM orders
