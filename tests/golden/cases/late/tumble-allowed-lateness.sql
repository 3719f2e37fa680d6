-- input: late
-- check: hand: allowed_lateness keeps windows open 10 s longer, so no row is late; checked by hand
-- event_time: ts 0s
-- allowed_lateness: 10s
-- batch_size: 1
-- parallelism: 1
SELECT key, window_start, window_end, count(*) AS n, sum(v) AS s FROM late GROUP BY key, TUMBLE(ts, INTERVAL '1' MINUTE)
