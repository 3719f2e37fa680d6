-- input: orders
-- check: duckdb
SELECT customer, min(name) AS first, max(name) AS last FROM orders GROUP BY customer
