-- input: orders
-- check: duckdb
SELECT id, concat(status, '/', name, qty) AS c, concat(NULL) AS e FROM orders
