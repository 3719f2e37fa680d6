-- input: orders
-- check: duckdb
SELECT id, ts FROM orders WHERE ts BETWEEN TIMESTAMP '2024-03-09 06:00:00' AND TIMESTAMP '2024-03-10 06:00:00'
