-- input: orders
-- check: hand: date_part returns float64 (PostgreSQL double precision); DuckDB returns bigint
SELECT id, date_part('hour', ts) AS h FROM orders WHERE id <= 6
