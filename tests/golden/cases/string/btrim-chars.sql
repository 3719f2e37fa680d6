-- input: orders
-- check: duckdb
SELECT id, btrim(name, ' a') AS t FROM orders
