-- input: nums
-- check: hand: unparsable text is a row error (dead letter); DuckDB fails the query
SELECT id, CAST(s AS double) AS v FROM nums
