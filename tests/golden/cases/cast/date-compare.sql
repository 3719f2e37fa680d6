-- input: orders
-- check: duckdb
SELECT id FROM orders WHERE CAST(day AS timestamp) < ts
