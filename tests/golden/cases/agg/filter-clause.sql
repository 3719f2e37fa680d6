-- input: orders
-- check: duckdb
SELECT customer, count(*) FILTER (WHERE paid) AS paid_n, sum(amount) FILTER (WHERE status = 'paid') AS paid_sum FROM orders GROUP BY customer
