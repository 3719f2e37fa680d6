-- input: orders
-- check: duckdb
SELECT id, extract(dow FROM ts) AS dow, extract(isodow FROM ts) AS isodow, extract(doy FROM ts) AS doy FROM orders
