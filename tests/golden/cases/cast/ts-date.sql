-- input: orders
-- check: duckdb
SELECT id, CAST(ts AS date) AS d, CAST(day AS timestamp) AS t FROM orders
