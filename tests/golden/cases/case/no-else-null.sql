-- input: orders
-- check: duckdb
SELECT id, CASE WHEN paid THEN amount END AS paid_amount FROM orders
