-- every row in each of its hop windows: start = floor(t / slide) * slide - i * slide while start + size > t
WITH w AS (SELECT e.*, epoch_us(ts) // 60000000 * 60000000 - i * 60000000 AS ws FROM events e, range(0, 3) r(i))
SELECT key, make_timestamp(ws) AS window_start, make_timestamp(ws + 180000000) AS window_end, count(*) AS n, sum(v) AS total FROM w WHERE ws + 180000000 > epoch_us(ts) GROUP BY ALL
