-- input: orders
-- check: duckdb
SELECT id, customer FROM orders WHERE customer NOT IN (1, 2, 3)
