-- sessions: a row starts a new one when the previous row of its key is gap or more before it (lag)
WITH s AS (SELECT *, CASE WHEN epoch_us(ts) - epoch_us(lag(ts) OVER (PARTITION BY key ORDER BY ts, id)) < 30000000 THEN 0 ELSE 1 END AS fresh FROM events),
g AS (SELECT *, sum(fresh) OVER (PARTITION BY key ORDER BY ts, id ROWS UNBOUNDED PRECEDING) AS sid FROM s)
SELECT key, min(ts) AS window_start, make_timestamp(max(epoch_us(ts)) + 30000000) AS window_end, count(*) AS n FROM g GROUP BY key, sid
