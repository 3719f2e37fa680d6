-- input: orders
-- check: duckdb
SELECT count(DISTINCT customer) AS c, count(DISTINCT paid) AS p FROM orders
