-- input: events
-- check: duckdb
SELECT key, count(*) AS n, min(ts) AS first, max(ts) AS last FROM events GROUP BY key
