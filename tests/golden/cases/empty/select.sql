-- input: empty
-- check: duckdb
SELECT id, amount FROM empty
