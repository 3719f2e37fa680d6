-- input: orders
-- check: duckdb
SELECT customer, count(*) AS n, sum(amount) AS revenue FROM orders GROUP BY customer
