-- input: orders
-- check: duckdb
SELECT id, date_trunc('minute', ts) AS m, date_trunc('hour', ts) AS h, date_trunc('day', ts) AS d FROM orders
