-- input: nums
-- check: hand: negating -2^63 overflows: dead letter; DuckDB fails the query
SELECT id, -a AS n FROM nums
