-- input: orders
-- check: duckdb
SELECT day, count(*) AS n FROM orders GROUP BY day
