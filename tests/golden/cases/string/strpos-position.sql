-- input: orders
-- check: duckdb
SELECT id, strpos(name, 'a') AS p, position('e' IN status) AS q FROM orders
