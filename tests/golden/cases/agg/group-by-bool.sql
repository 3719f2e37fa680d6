-- input: orders
-- check: duckdb
SELECT paid, count(*) AS n, avg(amount) AS a FROM orders GROUP BY paid
