-- input: empty
-- check: duckdb
SELECT count(*) AS n, sum(amount) AS s, min(ts) AS t FROM empty
