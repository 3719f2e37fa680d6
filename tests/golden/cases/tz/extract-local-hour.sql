-- input: tz
-- check: duckdb
SELECT id, extract(hour FROM ts AT TIME ZONE 'Asia/Tokyo') AS h FROM tz
