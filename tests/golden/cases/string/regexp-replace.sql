-- input: orders
-- check: duckdb
SELECT id, regexp_replace(name, '[aeiou]', '_', 'g') AS a, regexp_replace(status, 'a', 'A') AS b FROM orders
