SELECT id, ts + INTERVAL '14 months' AS a, ts + INTERVAL '11 months' AS b FROM months
