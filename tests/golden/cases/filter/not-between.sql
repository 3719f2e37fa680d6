-- input: orders
-- check: duckdb
SELECT id, qty FROM orders WHERE qty NOT BETWEEN 0 AND 10
