SELECT make_timestamp(epoch_us(ts) // 30000000 * 30000000) AS window_start, make_timestamp(epoch_us(ts) // 30000000 * 30000000 + 30000000) AS window_end, count(*) AS n FROM events GROUP BY ALL
