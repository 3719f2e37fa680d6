-- input: nums
-- check: hand: int64 to int32 out of range is a row error (dead letter); DuckDB fails the query
SELECT id, CAST(a AS int) AS v FROM nums
