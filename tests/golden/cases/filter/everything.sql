-- input: orders
-- check: duckdb
SELECT id FROM orders WHERE TRUE
