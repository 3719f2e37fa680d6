-- q11 as batch SQL (DuckDB): a bid starts a new session of its bidder when it comes 10 s or more after the
-- bidder's previous bid; a session spans [first bid, last bid + 10 s).
SELECT bidder, count(*) AS bid_count, min(date_time) AS window_start, max(date_time) + INTERVAL 10 SECOND AS window_end
FROM (
  SELECT bidder, date_time, sum(new_session) OVER (PARTITION BY bidder ORDER BY date_time ROWS UNBOUNDED PRECEDING) AS session
  FROM (
    SELECT bidder, date_time,
      CASE WHEN date_time - lag(date_time) OVER (PARTITION BY bidder ORDER BY date_time) < INTERVAL 10 SECOND THEN 0 ELSE 1 END AS new_session
    FROM bid))
GROUP BY bidder, session
