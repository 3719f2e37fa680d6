-- input: orders
-- check: duckdb
SELECT id, payload ->> 1 AS second FROM orders WHERE payload LIKE '[%'
