-- Nexmark q11: user sessions. Bids per bidder per session (a session ends after 10 s without a bid).
SELECT bidder, count(*) AS bid_count, window_start, window_end
FROM bid
GROUP BY bidder, SESSION(date_time, INTERVAL '10' SECOND)
