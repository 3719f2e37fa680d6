-- input: orders
-- check: duckdb
SELECT id, payload -> 'n' AS n FROM orders WHERE payload <> 'not json'
