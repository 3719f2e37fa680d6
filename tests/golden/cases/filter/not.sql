-- input: orders
-- check: duckdb
SELECT id FROM orders WHERE NOT (qty < 5)
