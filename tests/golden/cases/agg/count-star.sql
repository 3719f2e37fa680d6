-- input: orders
-- check: duckdb
SELECT count(*) AS n FROM orders
