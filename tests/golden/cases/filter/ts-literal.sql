-- input: orders
-- check: duckdb
SELECT id, ts FROM orders WHERE ts >= '2024-03-10 12:00:00'
