-- input: orders
-- check: duckdb
SELECT id FROM orders WHERE CASE WHEN paid THEN amount > 50 ELSE qty > 10 END
