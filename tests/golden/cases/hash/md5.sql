-- input: orders
-- check: duckdb
SELECT id, md5(name) AS h FROM orders
