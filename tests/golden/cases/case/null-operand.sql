-- input: orders
-- check: duckdb
SELECT id, CASE customer WHEN NULL THEN 'null' WHEN 1 THEN 'one' ELSE 'other' END AS c FROM orders
