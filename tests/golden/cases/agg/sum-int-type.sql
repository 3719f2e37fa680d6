-- input: orders
-- check: duckdb
SELECT customer, sum(id) AS s FROM orders GROUP BY customer
