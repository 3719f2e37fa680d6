-- input: tz
-- check: duckdb
SELECT id, ts FROM tz WHERE ts IS NOT NULL
