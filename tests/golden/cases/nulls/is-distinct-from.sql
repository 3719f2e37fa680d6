-- input: orders
-- check: duckdb
SELECT id, customer, qty, customer IS DISTINCT FROM qty AS d, customer IS NOT DISTINCT FROM qty AS nd FROM orders
