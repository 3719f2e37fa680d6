-- every row in each of its hop windows: start = floor(t / slide) * slide - i * slide while start + size > t
WITH w AS (SELECT e.*, epoch_us(ts) // 30000000 * 30000000 - i * 30000000 AS ws FROM events e, range(0, 2) r(i) WHERE key <> 'a')
SELECT key, make_timestamp(ws) AS window_start, make_timestamp(ws + 60000000) AS window_end, sum(x) AS sx FROM w WHERE ws + 60000000 > epoch_us(ts) GROUP BY ALL
