-- input: orders
-- check: duckdb
SELECT id, status, qty FROM orders WHERE status = 'paid' AND qty < 10
