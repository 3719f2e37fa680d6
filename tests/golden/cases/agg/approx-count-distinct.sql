-- input: orders
-- check: duckdb
SELECT customer, approx_count_distinct(name) AS names FROM orders GROUP BY customer
