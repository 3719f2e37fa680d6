-- every row in each of its hop windows: start = floor(t / slide) * slide - i * slide while start + size > t
WITH w AS (SELECT e.*, epoch_us(ts) // 120000000 * 120000000 - i * 120000000 AS ws FROM events e, range(0, 1) r(i))
SELECT key, make_timestamp(ws) AS window_start, make_timestamp(ws + 60000000) AS window_end, count(*) AS n, sum(v) AS total FROM w WHERE ws + 60000000 > epoch_us(ts) GROUP BY ALL
