-- input: orders
-- check: duckdb
SELECT id, paid AND amount > 10 AS a, paid OR qty > 0 AS o, NOT paid AS n FROM orders
