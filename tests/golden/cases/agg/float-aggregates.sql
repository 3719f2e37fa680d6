-- input: orders
-- check: duckdb
SELECT sum(amount) AS s, min(amount) AS mn, max(amount) AS mx, avg(amount) AS a FROM orders
