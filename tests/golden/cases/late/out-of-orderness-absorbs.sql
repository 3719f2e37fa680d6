-- input: late
-- check: hand: max_out_of_orderness 30 s holds the watermark back so no row is late; checked by hand
-- event_time: ts 30s
-- batch_size: 1
-- parallelism: 1
SELECT key, window_start, window_end, count(*) AS n, sum(v) AS s FROM late GROUP BY key, TUMBLE(ts, INTERVAL '1' MINUTE)
