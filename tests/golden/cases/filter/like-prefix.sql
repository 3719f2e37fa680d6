-- input: orders
-- check: duckdb
SELECT id, name FROM orders WHERE name LIKE 'a%'
