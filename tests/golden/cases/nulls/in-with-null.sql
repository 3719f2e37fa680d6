-- input: orders
-- check: duckdb
SELECT id, customer IN (1, NULL) AS i, customer NOT IN (1, NULL) AS ni FROM orders
