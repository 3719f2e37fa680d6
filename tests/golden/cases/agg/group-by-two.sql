-- input: orders
-- check: duckdb
SELECT customer, status, count(*) AS n, max(amount) AS top FROM orders GROUP BY customer, status
