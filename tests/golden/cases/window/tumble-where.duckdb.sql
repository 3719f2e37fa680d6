SELECT key, make_timestamp(epoch_us(ts) // 60000000 * 60000000 + 60000000) AS window_end, sum(x) AS sx FROM events WHERE v > 20 GROUP BY ALL
