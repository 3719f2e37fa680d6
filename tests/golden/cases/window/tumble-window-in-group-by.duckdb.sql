SELECT key, make_timestamp(epoch_us(ts) // 60000000 * 60000000) AS window_start, count(*) AS n FROM events GROUP BY ALL
