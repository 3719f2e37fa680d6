SELECT key, make_timestamp(epoch_us(ts) // 90000000 * 90000000) AS window_start, make_timestamp(epoch_us(ts) // 90000000 * 90000000 + 90000000) AS window_end, count(*) AS n FROM events GROUP BY ALL
