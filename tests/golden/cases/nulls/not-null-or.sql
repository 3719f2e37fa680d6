-- input: orders
-- check: duckdb
SELECT id FROM orders WHERE NOT paid OR paid IS NULL
