-- Nexmark q5 without its join: bids per auction per sliding window (10 s long, every 2 s). The reference
-- query then joins this with its per-window maximum to keep the hottest auctions; that join is not here.
SELECT auction, count(*) AS num, window_start, window_end
FROM bid
GROUP BY auction, HOP(date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
