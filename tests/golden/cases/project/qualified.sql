-- input: orders
-- check: duckdb
SELECT o.id, o."amount", "name" FROM orders AS o
