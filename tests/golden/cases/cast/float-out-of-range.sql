-- input: nums
-- check: hand: float to integer out of range is a row error (dead letter); DuckDB fails the query
SELECT id, CAST(f AS bigint) AS v, CAST(f AS int) AS w FROM nums
