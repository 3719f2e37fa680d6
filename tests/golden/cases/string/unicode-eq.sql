-- input: orders
-- check: duckdb
SELECT id FROM orders WHERE name = 'café' OR name = '中文' OR name = '👍🏽 ok'
