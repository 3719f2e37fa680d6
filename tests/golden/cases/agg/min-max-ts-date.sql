-- input: orders
-- check: duckdb
SELECT customer, min(ts) AS first, max(ts) AS last, min(day) AS d0, max(day) AS d1 FROM orders GROUP BY customer
