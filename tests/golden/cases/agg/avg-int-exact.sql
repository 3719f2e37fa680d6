-- input: orders
-- check: duckdb
SELECT status, avg(id) AS a FROM orders GROUP BY status
