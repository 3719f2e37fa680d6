-- input: orders
-- check: duckdb
SELECT id, 1 AS one, 'x' AS s, TRUE AS t, NULL AS n, 2.5 AS f FROM orders
