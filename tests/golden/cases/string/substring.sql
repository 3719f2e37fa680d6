-- input: orders
-- check: duckdb
SELECT id, substring(name, 2, 3) AS a, substring(name, 3) AS b, substr(status, 1, 2) AS c FROM orders
