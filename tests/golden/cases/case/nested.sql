-- input: orders
-- check: duckdb
SELECT id, CASE WHEN customer IS NULL THEN 'anon' ELSE CASE WHEN customer > 3 THEN 'big' ELSE 'small' END END AS c FROM orders
