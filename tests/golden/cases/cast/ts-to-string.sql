-- input: orders
-- check: hand: timestamp text is the sink's ISO form with Z; DuckDB writes 2024-03-10 08:56:28.907796
SELECT id, CAST(ts AS varchar) AS t, CAST(day AS varchar) AS d FROM orders WHERE id <= 8
