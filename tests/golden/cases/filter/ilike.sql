-- input: orders
-- check: duckdb
SELECT id, status FROM orders WHERE status ILIKE 'paid'
