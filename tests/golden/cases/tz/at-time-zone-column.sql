-- input: tz
-- check: duckdb
SELECT id, zone, ts AT TIME ZONE zone AS local FROM tz
