-- input: orders
-- check: duckdb
SELECT id, paid FROM orders WHERE paid IS NOT DISTINCT FROM NULL OR paid IS NOT DISTINCT FROM true
