-- input: orders
-- check: duckdb
SELECT id, name FROM orders WHERE regexp_like(name, '^[a-z]+$')
