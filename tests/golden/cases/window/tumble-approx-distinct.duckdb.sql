SELECT make_timestamp(epoch_us(ts) // 300000000 * 300000000) AS window_start, count(DISTINCT v) AS dv FROM events GROUP BY ALL
