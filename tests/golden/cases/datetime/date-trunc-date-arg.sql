-- input: orders
-- check: duckdb
SELECT id, date_trunc('month', day) AS m FROM orders
