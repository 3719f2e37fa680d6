-- input: orders
-- check: duckdb
SELECT id, name FROM orders WHERE starts_with(name, 'a') OR starts_with(status, 'c')
