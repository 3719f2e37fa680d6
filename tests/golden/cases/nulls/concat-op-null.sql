-- input: orders
-- check: duckdb
SELECT id, name || '!' AS shout, status || '/' || name AS both FROM orders
