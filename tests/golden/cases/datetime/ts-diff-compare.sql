-- input: orders
-- check: duckdb
SELECT id FROM orders WHERE ts - TIMESTAMP '2024-03-09 00:00:00' > INTERVAL '2' DAY
