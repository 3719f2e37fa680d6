SELECT id, make_timestamp(id * 86400 * 1000000) AS t, make_timestamp(CAST(id * 1.5 * 1000000 AS BIGINT)) AS f FROM orders
