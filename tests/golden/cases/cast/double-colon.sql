-- input: orders
-- check: duckdb
SELECT id, qty::double AS q, customer::bigint AS c FROM orders
