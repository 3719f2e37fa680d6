-- input: orders
-- check: duckdb
SELECT id, trim(both 'a' from name) AS t FROM orders
