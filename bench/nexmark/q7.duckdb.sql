-- q7 as batch SQL (DuckDB): epoch-aligned 10 s tumbling windows.
SELECT make_timestamp(ws) AS window_start, make_timestamp(ws + 10000000) AS window_end, max(price) AS max_price
FROM (SELECT price, (epoch_us(date_time) // 10000000) * 10000000 AS ws FROM bid)
GROUP BY ws
