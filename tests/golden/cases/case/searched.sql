-- input: orders
-- check: duckdb
SELECT id, CASE WHEN qty > 10 THEN 'many' WHEN qty > 0 THEN 'some' ELSE 'none' END AS bucket FROM orders
