-- input: orders
-- check: duckdb
SELECT id, json_value(payload, '$.n.b[1]') AS b FROM orders WHERE payload <> 'not json'
