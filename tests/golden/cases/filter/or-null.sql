-- input: orders
-- check: duckdb
SELECT id FROM orders WHERE status = 'open' OR amount IS NULL
