-- input: orders
-- check: duckdb
SELECT id, regexp_replace(email, '^([^@]*)@(.*)$', '\2 at \1') AS e FROM orders
