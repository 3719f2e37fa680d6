-- input: orders
-- check: duckdb
SELECT customer, sum(amount) / count(*) AS mean, max(qty) - min(qty) AS spread FROM orders GROUP BY customer
