-- input: late
-- check: hand: a SESSION row no open session takes, whose own gap ended before the watermark, is late; checked by hand
-- event_time: ts 0s
-- batch_size: 1
-- parallelism: 1
SELECT key, window_start, window_end, count(*) AS n FROM late GROUP BY key, SESSION(ts, INTERVAL '5' SECOND)
