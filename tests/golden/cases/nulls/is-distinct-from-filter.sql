-- input: orders
-- check: duckdb
SELECT id, status FROM orders WHERE status IS DISTINCT FROM 'paid'
