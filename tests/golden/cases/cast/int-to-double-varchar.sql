-- input: orders
-- check: duckdb
SELECT id, CAST(qty AS double) AS q, CAST(id AS varchar) AS t, CAST(customer AS int) AS c FROM orders
