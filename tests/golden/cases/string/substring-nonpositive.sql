-- input: orders
-- check: hand: substring with start <= 0 counts from before the string (PostgreSQL); DuckDB counts from the end
SELECT id, name, substring(name, 0, 3) AS a, substring(name, -1) AS b FROM orders WHERE id <= 12
