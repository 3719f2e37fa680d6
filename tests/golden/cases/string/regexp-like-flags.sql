-- input: orders
-- check: duckdb
SELECT id, status, regexp_like(status, 'PAID', 'i') AS m FROM orders
