-- input: orders
-- check: hand: to_timestamp(text, format) takes PostgreSQL templates; DuckDB has strptime with % codes
SELECT to_timestamp('2024-03-10 14:05:09', 'YYYY-MM-DD HH24:MI:SS') AS a, to_timestamp('10/03/2024 02PM', 'DD/MM/YYYY HH12AM') AS b FROM orders WHERE id = 1
