-- input: orders
-- check: duckdb
SELECT customer, max(status) AS s FROM orders GROUP BY customer HAVING max(status) IS DISTINCT FROM 'refunded'
