-- input: orders
-- check: duckdb
SELECT id, date_trunc('week', ts) AS w, date_trunc('month', ts) AS m, date_trunc('year', ts) AS y FROM orders
