-- input: orders
-- check: hand: float to integer rounds half to even (PostgreSQL); DuckDB rounds half away from zero
SELECT id, amount, CAST(amount * 2 AS bigint) AS twice, CAST(2.5 AS int) AS a, CAST(-2.5 AS int) AS b, CAST(3.5 AS int) AS c FROM orders WHERE id <= 10
