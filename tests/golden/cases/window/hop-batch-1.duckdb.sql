-- every row in each of its hop windows: start = floor(t / slide) * slide - i * slide while start + size > t
WITH w AS (SELECT e.*, epoch_us(ts) // 30000000 * 30000000 - i * 30000000 AS ws FROM events e, range(0, 4) r(i))
SELECT key, make_timestamp(ws) AS window_start, make_timestamp(ws + 120000000) AS window_end, count(*) AS n FROM w WHERE ws + 120000000 > epoch_us(ts) GROUP BY ALL
