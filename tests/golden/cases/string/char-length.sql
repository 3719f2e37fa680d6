-- input: orders
-- check: duckdb
SELECT id, char_length(name) AS a, character_length(status) AS b FROM orders
