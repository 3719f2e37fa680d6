-- input: orders
-- check: duckdb
SELECT id, name FROM orders WHERE name IS NOT NULL AND amount IS NULL
