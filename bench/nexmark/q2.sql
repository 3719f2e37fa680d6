-- Nexmark q2: selection. Bids on a set of auctions (every 123rd id).
SELECT auction, price FROM bid WHERE auction % 123 = 0
