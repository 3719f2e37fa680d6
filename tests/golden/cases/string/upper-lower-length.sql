-- input: orders
-- check: duckdb
SELECT id, upper(name) AS u, lower(name) AS l, length(name) AS n FROM orders
