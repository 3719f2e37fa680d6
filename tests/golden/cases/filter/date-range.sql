-- input: orders
-- check: duckdb
SELECT id, day FROM orders WHERE day > DATE '2024-03-10' AND day <= DATE '2024-03-20'
