-- input: orders
-- check: duckdb
SELECT id, to_timestamp(id * 86400) AS t, to_timestamp(id * 1.5) AS f FROM orders
