-- input: nums
-- check: hand: a failed CAST sends the row to the dead letters; DuckDB fails the whole query
SELECT id, CAST(s AS bigint) AS v FROM nums
