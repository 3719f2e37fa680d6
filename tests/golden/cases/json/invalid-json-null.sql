-- input: orders
-- check: hand: invalid JSON gives NULL for the row (the engine's documented soft rule); DuckDB fails the query
SELECT id, payload, payload ->> 'a' AS a, json_value(payload, '$.k') AS k FROM orders WHERE id <= 20
