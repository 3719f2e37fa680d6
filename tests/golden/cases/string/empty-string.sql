-- input: orders
-- check: duckdb
SELECT id, name, length(name) AS n FROM orders WHERE name = ''
