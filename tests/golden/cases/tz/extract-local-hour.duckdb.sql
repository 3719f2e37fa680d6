SELECT id, extract(hour FROM (ts AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Tokyo') AS h FROM tz
