-- input: orders
-- check: duckdb
SELECT upper(status) AS s, count(*) AS n FROM orders GROUP BY s
