-- Nexmark q22: the first three directories of the bid URL. The reference's SPLIT_INDEX(url, '/', i) is
-- 0-based; split_part is 1-based.
SELECT auction, bidder, price, channel,
  split_part(url, '/', 4) AS dir1,
  split_part(url, '/', 5) AS dir2,
  split_part(url, '/', 6) AS dir3
FROM bid
