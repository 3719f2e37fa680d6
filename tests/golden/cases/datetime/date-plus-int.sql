-- input: orders
-- check: duckdb
SELECT id, day + 1 AS next, day - 7 AS week_before FROM orders
