-- input: orders
-- check: duckdb
SELECT id, nullif(status, 'paid') AS s, nullif(qty, 0) AS q FROM orders
