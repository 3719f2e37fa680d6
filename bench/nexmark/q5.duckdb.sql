-- q5 as batch SQL (DuckDB): each bid falls in the 5 hops whose [start, start + 10 s) holds it; epoch-aligned.
SELECT auction, count(*) AS num, make_timestamp(ws) AS window_start, make_timestamp(ws + 10000000) AS window_end
FROM (SELECT auction, (epoch_us(date_time) // 2000000) * 2000000 - k * 2000000 AS ws FROM bid, range(5) AS t(k))
GROUP BY auction, ws
