-- input: orders
-- check: duckdb
SELECT id, CAST(paid AS varchar) AS p FROM orders
