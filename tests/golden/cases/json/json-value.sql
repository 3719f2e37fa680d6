-- input: orders
-- check: duckdb
SELECT id, json_value(payload, '$.a') AS a, json_value(payload, '$.k') AS k FROM orders WHERE payload <> 'not json'
