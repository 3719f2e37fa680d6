-- input: orders
-- check: duckdb
SELECT id, replace(name, 'a', 'AA') AS r, replace(status, 'paid', '') AS s FROM orders
