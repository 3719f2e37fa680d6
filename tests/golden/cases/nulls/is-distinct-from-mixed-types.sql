-- input: orders
-- check: duckdb
SELECT id, amount IS DISTINCT FROM qty AS d, ts IS NOT DISTINCT FROM day AS same_instant FROM orders
