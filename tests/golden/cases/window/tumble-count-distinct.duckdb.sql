SELECT make_timestamp(epoch_us(ts) // 120000000 * 120000000) AS window_start, count(DISTINCT key) AS keys, count(*) AS n FROM events GROUP BY ALL
