-- input: orders
-- check: duckdb
SELECT id, amount * qty AS total FROM orders WHERE amount * qty > 500
