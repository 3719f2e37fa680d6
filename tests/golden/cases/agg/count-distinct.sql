-- input: orders
-- check: duckdb
SELECT customer, count(DISTINCT status) AS statuses, count(DISTINCT name) AS names FROM orders GROUP BY customer
