-- input: months
-- check: duckdb
SELECT id, ts + INTERVAL '1 month 2 days 3 hours' AS a, ts - INTERVAL '1 mon 1 day 30 minutes' AS b FROM months
