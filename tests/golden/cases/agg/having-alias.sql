-- input: orders
-- check: duckdb
SELECT status, sum(qty) AS total FROM orders GROUP BY status HAVING total > 20
