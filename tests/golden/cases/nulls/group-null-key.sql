-- input: orders
-- check: duckdb
SELECT customer, count(*) AS n FROM orders GROUP BY customer
