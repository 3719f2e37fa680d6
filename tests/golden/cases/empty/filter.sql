-- input: empty
-- check: duckdb
SELECT * FROM empty WHERE qty > 0
