-- input: orders
-- check: duckdb
SELECT id, (amount + qty) * 2 AS a, amount + qty * 2 AS b, -qty AS n FROM orders
