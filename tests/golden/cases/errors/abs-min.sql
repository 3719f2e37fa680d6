-- input: nums
-- check: hand: abs(-2^63) is a row error (dead letter); DuckDB fails the query
SELECT id, abs(a) AS x FROM nums
