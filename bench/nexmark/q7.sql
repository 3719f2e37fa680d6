-- Nexmark q7 without its join: the highest bid price per 10 s tumbling window. The reference query joins
-- this back to the bids to return the winning bid rows; that join is not here.
SELECT window_start, window_end, max(price) AS max_price
FROM bid
GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND)
