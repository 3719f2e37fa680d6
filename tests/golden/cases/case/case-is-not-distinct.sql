-- input: orders
-- check: duckdb
SELECT id, CASE WHEN customer IS NOT DISTINCT FROM NULL THEN 'anon' ELSE 'known' END AS who FROM orders
