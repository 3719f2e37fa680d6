-- input: orders
-- check: hand: float to text is PostgreSQL's shortest form (2 not 2.0); DuckDB writes integral doubles as 2.0
SELECT id, CAST(amount AS varchar) AS a, CAST(amount * 100 AS text) AS b FROM orders WHERE id <= 12
