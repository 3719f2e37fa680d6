SELECT id, ts, (ts AT TIME ZONE 'UTC') AT TIME ZONE 'Europe/Paris' AS paris, (ts AT TIME ZONE 'UTC') AT TIME ZONE 'America/New_York' AS ny FROM tz
