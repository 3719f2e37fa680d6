-- input: orders
-- check: duckdb
SELECT name, count(*) AS n FROM orders GROUP BY name
