-- input: late
-- check: hand: rows behind the watermark for an emitted window are late: dead letters of class late, counted; the rest checked by hand
-- event_time: ts 0s
-- batch_size: 1
-- parallelism: 1
SELECT key, window_start, window_end, count(*) AS n, sum(v) AS s FROM late GROUP BY key, TUMBLE(ts, INTERVAL '1' MINUTE)
