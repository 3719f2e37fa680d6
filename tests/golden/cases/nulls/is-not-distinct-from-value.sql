-- input: orders
-- check: duckdb
SELECT id, customer, customer IS NOT DISTINCT FROM 3 AS three, customer IS DISTINCT FROM 3 AS not_three FROM orders
