-- input: empty
-- check: duckdb
SELECT customer, count(*) AS n FROM empty GROUP BY customer
