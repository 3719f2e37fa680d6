-- input: orders
-- check: duckdb
SELECT id, extract(year FROM day) AS y, extract(day FROM day) AS d FROM orders
