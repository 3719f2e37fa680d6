-- input: late
-- check: hand: a HOP row late for some of its windows still counts in the open ones and is reported once; checked by hand
-- event_time: ts 0s
-- batch_size: 1
-- parallelism: 1
SELECT window_start, window_end, count(*) AS n FROM late GROUP BY HOP(ts, INTERVAL '30' SECOND, INTERVAL '1' MINUTE)
