-- input: orders
-- check: hand: backslash is LIKE's default escape in PostgreSQL; DuckDB has no default escape
SELECT id, name LIKE '%\%' AS a, 'ab%' LIKE 'ab\%' AS b, name LIKE '%!%' ESCAPE '!' AS c FROM orders WHERE id <= 5
