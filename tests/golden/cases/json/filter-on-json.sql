-- input: orders
-- check: duckdb
SELECT id FROM orders WHERE payload <> 'not json' AND (payload ->> 'a') = 'x'
