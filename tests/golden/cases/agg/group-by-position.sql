-- input: orders
-- check: duckdb
SELECT status, avg(amount) AS a FROM orders GROUP BY 1
