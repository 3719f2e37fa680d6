-- input: orders
-- check: duckdb
SELECT id, qty IS DISTINCT FROM customer + 1 AS d, NOT qty IS DISTINCT FROM 3 AS n FROM orders
