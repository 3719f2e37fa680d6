-- input: orders
-- check: duckdb
SELECT id, substring(status FROM 2 FOR 3) AS s FROM orders
