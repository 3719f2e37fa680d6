-- input: orders
-- check: duckdb
SELECT id, CAST('42' AS bigint) + qty AS v FROM orders
