-- input: orders
-- check: duckdb
SELECT id, CASE WHEN qty = 0 THEN NULL ELSE 100 / qty END AS r FROM orders
