-- input: orders
-- check: duckdb
SELECT id, coalesce(name, 'none') AS n, coalesce(amount, 0.0) AS a, coalesce(qty, customer, -1) AS q FROM orders
