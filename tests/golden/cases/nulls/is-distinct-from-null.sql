-- input: orders
-- check: duckdb
SELECT id, name IS DISTINCT FROM NULL AS d, NULL IS NOT DISTINCT FROM name AS nd FROM orders
