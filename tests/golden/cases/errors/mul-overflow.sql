-- input: nums
-- check: hand: integer overflow sends that row to the dead letters; DuckDB fails the query
SELECT id, a * 2 AS d FROM nums
