-- input: orders
-- check: duckdb
SELECT id, payload ->> 'a' AS a, payload ->> 'k' AS k FROM orders WHERE payload <> 'not json'
