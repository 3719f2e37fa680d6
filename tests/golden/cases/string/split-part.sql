-- input: orders
-- check: duckdb
SELECT id, split_part(name, ',', 2) AS b, split_part(name, ' ', 1) AS first FROM orders
