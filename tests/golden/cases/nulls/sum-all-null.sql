-- input: orders
-- check: duckdb
SELECT sum(amount) AS s, min(name) AS mn, avg(qty) AS a FROM orders WHERE amount IS NULL
