-- Nexmark q21: the channel id, from the channel name for the four hot channels, else from the URL's
-- channel_id parameter. The reference's REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) is written with
-- regexp_like (does the parameter exist) and regexp_replace (keep group 2 of the whole-URL match).
SELECT auction, bidder, price, channel,
  CASE
    WHEN lower(channel) = 'apple' THEN '0'
    WHEN lower(channel) = 'google' THEN '1'
    WHEN lower(channel) = 'facebook' THEN '2'
    WHEN lower(channel) = 'baidu' THEN '3'
    ELSE regexp_replace(url, '^.*(&|^)channel_id=([^&]*).*$', '\2')
  END AS channel_id
FROM bid
WHERE regexp_like(url, '(&|^)channel_id=') OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')
