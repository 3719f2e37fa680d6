-- input: orders
-- check: duckdb
SELECT id, id AS id2, amount, amount AS a2 FROM orders WHERE customer = 3
