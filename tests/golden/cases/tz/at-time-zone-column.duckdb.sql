SELECT id, zone, (ts AT TIME ZONE 'UTC') AT TIME ZONE zone AS local FROM tz
