-- input: orders
-- check: duckdb
SELECT id, md5(status || ':' || id) AS h FROM orders WHERE status IS NOT NULL
