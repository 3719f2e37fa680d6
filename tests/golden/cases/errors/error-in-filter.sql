-- input: nums
-- check: hand: overflow inside WHERE dead-letters the row; DuckDB fails the query
SELECT id FROM nums WHERE a * b > 0
