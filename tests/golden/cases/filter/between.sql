-- input: orders
-- check: duckdb
SELECT id, amount FROM orders WHERE amount BETWEEN 10 AND 100
