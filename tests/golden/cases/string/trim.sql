-- input: orders
-- check: duckdb
SELECT id, trim(name) AS t, ltrim(name) AS l, rtrim(name) AS r FROM orders
