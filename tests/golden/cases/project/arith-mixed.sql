-- input: orders
-- check: duckdb
SELECT id, amount * qty AS total, qty + customer AS s, qty - customer AS d FROM orders
