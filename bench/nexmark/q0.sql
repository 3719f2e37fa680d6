-- Nexmark q0: pass-through. Every bid, unchanged (measures the source, the engine's framing and the sink).
SELECT auction, bidder, price, channel, url, date_time, extra FROM bid
