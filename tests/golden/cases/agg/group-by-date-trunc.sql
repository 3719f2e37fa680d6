-- input: orders
-- check: duckdb
SELECT date_trunc('day', ts) AS d, count(*) AS n, sum(qty) AS q FROM orders GROUP BY date_trunc('day', ts)
