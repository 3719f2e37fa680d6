-- input: orders
-- check: duckdb
SELECT count(*) AS n, count(qty) AS c, sum(qty) AS s, min(qty) AS mn, max(qty) AS mx, avg(qty) AS a FROM orders
