-- input: orders
-- check: duckdb
SELECT status, count(*) AS n, sum(amount * qty) AS total FROM orders WHERE amount > 0 GROUP BY status
