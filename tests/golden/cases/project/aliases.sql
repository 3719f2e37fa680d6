-- input: orders
-- check: duckdb
SELECT id AS key, amount amt, name AS label FROM orders
