-- input: orders
-- check: duckdb
SELECT id, abs(qty) AS aq, abs(amount) AS aa FROM orders
