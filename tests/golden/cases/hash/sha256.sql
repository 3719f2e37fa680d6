-- input: orders
-- check: duckdb
SELECT id, sha256(status) AS h FROM orders
