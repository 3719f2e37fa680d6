-- input: orders
-- check: duckdb
SELECT id, amount + NULL AS x, qty * NULL AS y, customer + qty AS z FROM orders
