-- input: orders
-- check: duckdb
SELECT id, payload -> 'n' ->> 'b' AS b FROM orders WHERE payload <> 'not json'
