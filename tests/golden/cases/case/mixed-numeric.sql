-- input: orders
-- check: duckdb
SELECT id, CASE WHEN paid THEN amount ELSE qty END AS v FROM orders
